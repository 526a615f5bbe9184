//! Command line arguments of the client commands (`put`, `get`, `head`, `rm`), and their
//! validation into wire values (the signing commands' own are in `tools.rs`).
//!
//! Everything a user can get wrong is checked here, before any request is sent, and reported as a
//! usage error (exit 2): scopes (`--scope org=1`, docs/http-api.md §2.2), custom metadata names,
//! the expiration policy and content type (parsed with the shared codecs of `objectstore-types`),
//! ranges and sizes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use http::HeaderMap;
use http::header::CONTENT_DISPOSITION;
use objectstore_types::{ByteRange, Compression, ExpirationPolicy, Metadata, Scope, Scopes};

use crate::error::{ClientError, Result};
use crate::output::Output;

/// Where the server is and how to authenticate; how to print.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Server base URL, optionally with a path prefix.
    #[arg(
        long,
        env = "OBJECTSTORE_URL",
        default_value = "http://127.0.0.1:8888",
        value_name = "URL"
    )]
    pub(crate) url: String,
    /// Token (JWT) sent as `x-os-auth: Bearer <token>`.
    #[arg(long, env = "OBJECTSTORE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Key id for minting a token per request (with `--private-key`), like `objectstore token`.
    #[arg(long, env = "OBJECTSTORE_KID")]
    pub(crate) kid: Option<String>,
    /// PKCS#8 PEM private key to mint tokens with (used when no `--token` is given).
    #[arg(long, env = "OBJECTSTORE_PRIVATE_KEY", value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,
    /// Print one JSON document on stdout (errors as JSON on stderr).
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar and no notes on stderr (errors are still printed).
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

impl Connection {
    /// How results and errors are printed.
    pub(crate) fn output(&self) -> Output {
        Output {
            json: self.json,
            quiet: self.quiet,
        }
    }
}

/// The usecase and scopes of an object.
#[derive(Debug, Clone, Args)]
pub struct Namespace {
    /// Usecase (top-level namespace).
    #[arg(short = 'u', long, env = "OBJECTSTORE_USECASE")]
    pub(crate) usecase: String,
    /// Scope `NAME=VALUE`, repeatable, in order (`org=1;project=2` is accepted too).
    #[arg(short = 's', long = "scope", value_name = "NAME=VALUE")]
    pub(crate) scopes: Vec<String>,
}

impl Namespace {
    /// The validated scopes, in the order given.
    pub(crate) fn scopes(&self) -> Result<Scopes> {
        parse_scopes(&self.scopes)
    }
}

/// Parses repeated `--scope` values into [`Scopes`].
pub(crate) fn parse_scopes(values: &[String]) -> Result<Scopes> {
    let mut scopes: Vec<Scope> = Vec::new();
    for value in values {
        let parsed = Scopes::parse(value)
            .map_err(|e| ClientError::usage(format!("--scope {value:?}: {e}")))?;
        scopes.extend(parsed.iter().cloned());
    }
    Scopes::from_vec(scopes).map_err(|e| ClientError::usage(e.to_string()))
}

/// Metadata flags of `put`.
#[derive(Debug, Clone, Args)]
pub struct MetadataArgs {
    /// Media type of the object (default `application/octet-stream`).
    #[arg(short = 't', long, value_name = "MEDIA-TYPE")]
    pub(crate) content_type: Option<String>,
    /// Compress with zstd before sending (and record `content-encoding: zstd`).
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) compress: CompressArg,
    /// The input is already compressed: record this encoding and send the bytes as they are.
    #[arg(long, value_name = "zstd|gzip", conflicts_with = "compress", value_parser = parse_compression)]
    pub(crate) precompressed: Option<Compression>,
    /// Expiration policy: `manual`, `ttl:<duration>` or `tti:<duration>` (e.g. `ttl:30d`).
    #[arg(short = 'e', long, value_name = "POLICY", value_parser = parse_expiration)]
    pub(crate) expiration: Option<ExpirationPolicy>,
    /// Origin (free text, e.g. the uploader's address).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// Filename stored with the object (used in `content-disposition` on reads).
    #[arg(long)]
    pub(crate) filename: Option<String>,
    /// Custom metadata `NAME=VALUE` (repeatable; names are case-insensitive).
    #[arg(short = 'm', long = "meta", value_name = "NAME=VALUE")]
    pub(crate) meta: Vec<String>,
}

/// `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    /// Send the bytes as they are.
    None,
    /// Compress with zstd.
    Zstd,
}

impl MetadataArgs {
    /// The metadata to send, validated with the shared header codec.
    pub(crate) fn metadata(&self) -> Result<Metadata> {
        let mut metadata = Metadata::default();
        if let Some(ct) = &self.content_type {
            ct.parse::<mime::Mime>().map_err(|e| {
                ClientError::usage(format!("--content-type {ct:?} is not a media type: {e}"))
            })?;
            metadata.content_type.clone_from(ct);
        }
        metadata.compression = match self.compress {
            CompressArg::Zstd => Some(Compression::Zstd),
            CompressArg::None => self.precompressed,
        };
        if let Some(policy) = self.expiration {
            metadata.expiration_policy = policy;
        }
        metadata.origin.clone_from(&self.origin);
        metadata.filename.clone_from(&self.filename);
        for entry in &self.meta {
            let Some((name, value)) = entry.split_once('=') else {
                return Err(ClientError::usage(format!(
                    "--meta {entry:?}: expected NAME=VALUE"
                )));
            };
            let name = name.trim().to_ascii_lowercase();
            let valid = !name.is_empty()
                && http::HeaderName::from_bytes(format!("x-snme-{name}").as_bytes()).is_ok();
            if !valid {
                return Err(ClientError::usage(format!(
                    "--meta {entry:?}: {name:?} is not a valid metadata name (letters, digits, `-`, `_`)"
                )));
            }
            metadata.custom.insert(name, value.to_owned());
        }
        Ok(metadata)
    }

    /// Whether the client compresses the input itself.
    pub(crate) fn compresses(&self) -> bool {
        self.compress == CompressArg::Zstd
    }
}

/// The request headers of an insert carrying `metadata` (the shared codec's output, minus
/// the response-only `content-disposition`).
pub(crate) fn metadata_headers(metadata: &Metadata) -> HeaderMap {
    let mut headers = metadata.to_headers();
    headers.remove(CONTENT_DISPOSITION);
    headers
}

/// `put` arguments.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// File to upload, or `-` for stdin.
    pub(crate) source: PathBuf,
    /// Object key; without it the server assigns one (printed on success).
    pub(crate) key: Option<String>,
    #[command(flatten)]
    /// Usecase and scopes.
    pub(crate) namespace: Namespace,
    #[command(flatten)]
    /// Metadata to store.
    pub(crate) metadata: MetadataArgs,
    #[command(flatten)]
    /// Large-file upload settings.
    pub(crate) upload: UploadArgs,
    #[command(flatten)]
    /// Server, credentials and output.
    pub(crate) connection: Connection,
}

/// Large-file upload tuning of `put`.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Files at least this large go through a resumable multipart upload.
    #[arg(long, default_value = "64MiB", value_name = "SIZE", value_parser = parse_size)]
    pub(crate) multipart_threshold: u64,
    /// Size of each multipart part (of the input, before compression).
    #[arg(long, default_value = "16MiB", value_name = "SIZE", value_parser = parse_size)]
    pub(crate) part_size: u64,
    /// Require an interrupted upload of this file to continue (fail with exit 3 if none).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Discard (and abort) any interrupted upload of this file and start over.
    #[arg(long, conflicts_with = "resume")]
    pub(crate) restart: bool,
    /// Directory of resume state files (default `$XDG_STATE_HOME/objectstore/uploads`).
    #[arg(long, env = "OBJECTSTORE_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Parts uploaded at once (each holds up to `--part-size` bytes in memory).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) parallel: usize,
    /// Limit the upload rate, in bytes per second (e.g. `10MiB`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) limit_rate: Option<u64>,
}

/// `get` arguments.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// Object key.
    pub(crate) key: String,
    /// Write the payload to this file (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Byte range: `A-B`, `A-` or `-N` (`bytes=` prefix optional). Implies `--raw`.
    /// A suffix range is a value, not a flag: `--range -1000` reads the last 1000 bytes.
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub(crate) range: Option<String>,
    /// Write the stored bytes without decompressing them.
    #[arg(long)]
    pub(crate) raw: bool,
    #[command(flatten)]
    /// Usecase and scopes.
    pub(crate) namespace: Namespace,
    #[command(flatten)]
    /// Server, credentials and output.
    pub(crate) connection: Connection,
}

impl GetArgs {
    /// The `Range` header value, validated.
    pub(crate) fn range_header(&self) -> Result<Option<String>> {
        let Some(range) = &self.range else {
            return Ok(None);
        };
        let header = if range.to_ascii_lowercase().starts_with("bytes=") {
            range.clone()
        } else {
            format!("bytes={range}")
        };
        match ByteRange::parse(&header) {
            Ok(Some(_)) => Ok(Some(header)),
            Ok(None) => Err(ClientError::usage(format!(
                "--range {range:?}: only a single range is supported"
            ))),
            Err(e) => Err(ClientError::usage(format!("--range {range:?}: {e}"))),
        }
    }
}

/// `head` and `rm` arguments.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Object key.
    pub(crate) key: String,
    #[command(flatten)]
    /// Usecase and scopes.
    pub(crate) namespace: Namespace,
    #[command(flatten)]
    /// Server, credentials and output.
    pub(crate) connection: Connection,
}

fn parse_expiration(s: &str) -> std::result::Result<ExpirationPolicy, String> {
    s.parse()
        .map_err(|e: objectstore_types::expiration::InvalidExpiration| e.to_string())
}

fn parse_compression(s: &str) -> std::result::Result<Compression, String> {
    s.parse()
        .map_err(|e: objectstore_types::metadata::InvalidMetadata| e.reason)
}

/// Parses a byte size: `1048576`, `512KiB`, `64MiB`, `1GiB` (`K`, `M`, `G` are binary too;
/// `KB`, `MB`, `GB` decimal).
pub(crate) fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 65536, 512KiB, 64MiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB, GiB)")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Default validity of minted tokens (a fresh one is minted for every request).
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65_536));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert!(parse_size("").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn scopes_accept_repeats_and_matrix_form() {
        let scopes = parse_scopes(&["org=1".into(), "project=2;env=prod".into()]).unwrap();
        assert_eq!(scopes.as_api_path(), "org=1;project=2;env=prod");
        assert_eq!(parse_scopes(&[]).unwrap().as_api_path(), "_");
        assert!(parse_scopes(&["org".into()]).is_err());
        assert!(parse_scopes(&["org=a/b".into()]).is_err());
    }
}
