//go:build !novalab_schema

package main

// Without the novalab_schema tag (a plain `go build`/`go vet` of the repository) there is no
// generated schema to embed; main refuses to start.
var schemaJSON, bridgeMetadataJSON []byte
