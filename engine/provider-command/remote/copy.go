package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// CopyToRemote copies a file, a text asset or a directory to a host over SFTP, as upstream
// does (command:remote:CopyToRemote).
type CopyToRemote struct{}

// Annotate documents the resource.
func (c *CopyToRemote) Annotate(a infer.Annotator) {
	a.Describe(&c, "Copies a FileAsset, StringAsset or FileArchive (a local file or directory) to a "+
		"remote host over SFTP. Archives are copied as they are, not unpacked.")
}

// CopyToRemoteInputs are the resource's inputs; its state is the same.
type CopyToRemoteInputs struct {
	Connection *Connection          `pulumi:"connection"        provider:"secret"`
	Triggers   *[]any               `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Source     types.AssetOrArchive `pulumi:"source"`
	RemotePath string               `pulumi:"remotePath"`
}

// Annotate documents the inputs.
func (c *CopyToRemoteInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "How to reach the host.")
	a.Describe(&c.Triggers, "Values of any type; when one changes, the copy is made again as a new resource.")
	a.Describe(&c.Source, "What to copy: a FileAsset, a StringAsset, or a FileArchive of a file or directory.")
	a.Describe(&c.RemotePath, "Where to copy to. Missing parent directories are made. An existing "+
		"directory receives the source inside it; a directory source without a trailing slash "+
		"arrives as a subdirectory, with one its contents are copied in.")
}

var (
	_ infer.CustomResource[CopyToRemoteInputs, CopyToRemoteInputs] = (*CopyToRemote)(nil)
	_ infer.CustomCheck[CopyToRemoteInputs]                        = (*CopyToRemote)(nil)
	_ infer.CustomUpdate[CopyToRemoteInputs, CopyToRemoteInputs]   = (*CopyToRemote)(nil)
)

// Check refuses sources that cannot be copied (remote URLs, in-memory archives).
func (*CopyToRemote) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[CopyToRemoteInputs], error) {
	in, failures, err := infer.DefaultCheck[CopyToRemoteInputs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[CopyToRemoteInputs]{Inputs: in, Failures: failures}, err
	}
	asset, archive := in.Source.Asset, in.Source.Archive
	switch {
	case asset == nil && archive == nil:
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "an asset or an archive is required"})
	case asset != nil && archive != nil:
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "give an asset or an archive, not both"})
	case asset != nil && !asset.IsPath() && !asset.IsText():
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "the asset must be a FileAsset or a StringAsset"})
	case archive != nil && !archive.IsPath():
		failures = append(failures, p.CheckFailure{Property: "source", Reason: "the archive must be a FileArchive of a local file or directory"})
	}
	return infer.CheckResponse[CopyToRemoteInputs]{Inputs: in, Failures: failures}, nil
}

// Create copies the source.
func (*CopyToRemote) Create(ctx context.Context, req infer.CreateRequest[CopyToRemoteInputs]) (infer.CreateResponse[CopyToRemoteInputs], error) {
	if req.DryRun {
		return infer.CreateResponse[CopyToRemoteInputs]{Output: req.Inputs}, nil
	}
	if err := req.Inputs.copy(ctx); err != nil {
		return infer.CreateResponse[CopyToRemoteInputs]{}, err
	}
	id, err := resource.NewUniqueHex("", 8, 0)
	return infer.CreateResponse[CopyToRemoteInputs]{ID: id, Output: req.Inputs}, err
}

// Update copies again only when the content or the destination changed (a new connection
// alone is not a reason to copy).
func (*CopyToRemote) Update(ctx context.Context, req infer.UpdateRequest[CopyToRemoteInputs, CopyToRemoteInputs]) (infer.UpdateResponse[CopyToRemoteInputs], error) {
	olds, news := req.State, req.Inputs
	if req.DryRun || (news.sourceHash() == olds.sourceHash() && news.RemotePath == olds.RemotePath) {
		return infer.UpdateResponse[CopyToRemoteInputs]{Output: news}, nil
	}
	if err := news.copy(ctx); err != nil {
		return infer.UpdateResponse[CopyToRemoteInputs]{}, err
	}
	return infer.UpdateResponse[CopyToRemoteInputs]{Output: news}, nil
}

func (c *CopyToRemoteInputs) sourceHash() string {
	if c.Source.Asset != nil {
		return c.Source.Asset.Hash
	}
	if c.Source.Archive != nil {
		return c.Source.Archive.Hash
	}
	return ""
}

func (c *CopyToRemoteInputs) copy(ctx context.Context) error {
	return withSFTP(ctx, c.Connection, func(client *sftp.Client) error {
		if a := c.Source.Asset; a != nil && a.IsText() {
			return copyText(client, a.Text, c.RemotePath)
		}
		src := ""
		if c.Source.Asset != nil {
			src = c.Source.Asset.Path
		} else {
			src = c.Source.Archive.Path
		}
		return copyPath(client, src, c.RemotePath)
	})
}

func withSFTP(ctx context.Context, conn *Connection, use func(*sftp.Client) error) error {
	if conn == nil {
		return errors.New("connection is required")
	}
	sshClient, err := conn.Dial(ctx)
	if err != nil {
		return err
	}
	defer sshClient.Close()
	client, err := sftp.NewClient(sshClient.Client)
	if err != nil {
		return fmt.Errorf("starting SFTP on %s: %w", conn.address(), err)
	}
	defer client.Close()
	if err := use(client); err != nil {
		return fmt.Errorf("copying to %s: %w", conn.address(), err)
	}
	return nil
}

// remoteStat returns nil (and no error) when the path does not exist.
func remoteStat(client *sftp.Client, p string) (fs.FileInfo, error) {
	info, err := client.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return info, err
}

func copyText(client *sftp.Client, text, dest string) error {
	info, err := remoteStat(client, dest)
	if err != nil {
		return err
	}
	if info != nil && info.IsDir() {
		return fmt.Errorf("%s is a directory: a StringAsset needs a file path", dest)
	}
	if err := client.MkdirAll(path.Dir(dest)); err != nil {
		return err
	}
	f, err := client.Create(dest)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// copyPath copies a local file or directory like `cp -r` (and `rsync` for a trailing slash).
func copyPath(client *sftp.Client, src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	destInfo, err := remoteStat(client, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if destInfo != nil && destInfo.IsDir() {
			dest = path.Join(dest, filepath.Base(src))
		} else if err := client.MkdirAll(path.Dir(dest)); err != nil {
			return err
		}
		return copyFile(client, src, dest, info.Mode())
	}
	if destInfo != nil && !destInfo.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dest)
	}
	if !strings.HasSuffix(src, "/") {
		dest = path.Join(dest, filepath.Base(src))
	}
	return filepath.WalkDir(src, func(local string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, local)
		if err != nil {
			return err
		}
		target := path.Join(dest, filepath.ToSlash(rel))
		if d.IsDir() {
			ti, err := remoteStat(client, target)
			if err != nil {
				return err
			}
			if ti != nil && !ti.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", target)
			}
			return client.MkdirAll(target)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(client, local, target, fi.Mode())
	})
}

// copyFile writes one file, keeping its permission bits (a copied script stays executable).
func copyFile(client *sftp.Client, src, dest string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := client.Create(dest)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	if _, err := out.ReadFrom(in); err != nil {
		_ = out.Close()
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := out.Chmod(mode.Perm()); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// CopyFile is the deprecated single-file copy the SDK still has (command:remote:CopyFile).
// Any change replaces it (it has no update), as upstream.
type CopyFile struct{}

// Annotate documents the resource.
func (c *CopyFile) Annotate(a infer.Annotator) {
	a.Describe(&c, "Copies a local file to a remote host over SFTP.")
	a.Deprecate(&c, "This resource is deprecated and will be removed in a future release. "+
		"Please use the `CopyToRemote` resource instead.")
}

// CopyFileInputs are the resource's inputs; its state is the same.
type CopyFileInputs struct {
	Connection *Connection `pulumi:"connection"        provider:"secret"`
	Triggers   *[]any      `pulumi:"triggers,optional"`
	LocalPath  string      `pulumi:"localPath"`
	RemotePath string      `pulumi:"remotePath"`
}

// Annotate documents the inputs.
func (c *CopyFileInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "How to reach the host.")
	a.Describe(&c.Triggers, "Values of any type; when one changes, the file is copied again.")
	a.Describe(&c.LocalPath, "The local file.")
	a.Describe(&c.RemotePath, "The path on the host to write it to.")
}

// Create copies the file.
func (*CopyFile) Create(ctx context.Context, req infer.CreateRequest[CopyFileInputs]) (infer.CreateResponse[CopyFileInputs], error) {
	in := req.Inputs
	if req.DryRun {
		return infer.CreateResponse[CopyFileInputs]{Output: in}, nil
	}
	info, err := os.Stat(in.LocalPath)
	if err != nil {
		return infer.CreateResponse[CopyFileInputs]{}, err
	}
	err = withSFTP(ctx, in.Connection, func(client *sftp.Client) error {
		return copyFile(client, in.LocalPath, in.RemotePath, info.Mode())
	})
	if err != nil {
		return infer.CreateResponse[CopyFileInputs]{}, err
	}
	id, err := resource.NewUniqueHex("", 8, 0)
	return infer.CreateResponse[CopyFileInputs]{ID: id, Output: in}, err
}
