//go:build novalab_schema

package main

import _ "embed" // the files build.sh generates beside this one in its scratch copy

//go:embed schema.json
var schemaJSON []byte

//go:embed bridge-metadata.json
var bridgeMetadataJSON []byte
