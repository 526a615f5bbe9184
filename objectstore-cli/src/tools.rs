//! The signing commands, all local (no server is contacted): `keygen` writes a key pair,
//! `token` prints a token, `presign` prints a pre-signed URL, of a full object URL or, with
//! `-u/--usecase`, of an object address on the server at `--url`.
//!
//! The key that signs is named the same way everywhere: `--kid` (`OBJECTSTORE_KID`) and
//! `--key`/`--private-key` (`OBJECTSTORE_PRIVATE_KEY`); usecase and scopes as in the client
//! commands (`-u/--usecase`, `-s/--scope NAME=VALUE`, repeatable).
//!
//! Exit codes: `keygen`, `token` and `presign` of a full URL keep the server-side codes
//! (0 ok, 1 failure, 2 command line: an invalid usecase or scope, a missing or unreadable
//! key file, a positional argument that is no URL); `presign -u` uses the client codes of
//! `error.rs` (2 usage, 4 unreadable key file).
//!
//! A pre-signed URL for `HEAD` is the URL for `GET` (the signed string writes `HEAD` as
//! `GET`, so one URL serves both); `presign --method HEAD` says so in a note on stderr.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use objectstore_auth::tools::{self as signing, ToolError};
use objectstore_types::{Permission, Usecase};
use serde_json::json;

use crate::args::{Connection, parse_scopes};
use crate::error::{ClientError, Exit, Result};
use crate::http::Api;
use crate::output::Output;

/// The key that signs: its id and the private key file.
#[derive(Debug, Clone, Args)]
pub struct Signer {
    /// Key id the server knows the public key under.
    #[arg(long, env = "OBJECTSTORE_KID")]
    pub(crate) kid: String,
    /// PKCS#8 PEM private key file.
    #[arg(
        long,
        visible_alias = "private-key",
        env = "OBJECTSTORE_PRIVATE_KEY",
        value_name = "FILE"
    )]
    pub(crate) key: PathBuf,
}

/// `keygen` arguments.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Path prefix of the two files.
    pub(crate) prefix: PathBuf,
}

/// `token` arguments.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The key that signs.
    #[command(flatten)]
    pub(crate) signer: Signer,
    /// Usecase the token is for.
    #[arg(short = 'u', long, env = "OBJECTSTORE_USECASE")]
    pub(crate) usecase: String,
    /// Scope `NAME=VALUE`, repeatable, in order (`org=1;project=2` is accepted too; `*`
    /// as a value allows any). None: `_`.
    #[arg(
        short = 's',
        long = "scope",
        visible_alias = "scopes",
        value_name = "NAME=VALUE"
    )]
    pub(crate) scopes: Vec<String>,
    /// Permissions granted (repeatable). Default: all three.
    #[arg(long = "permission", value_name = "PERMISSION")]
    pub(crate) permissions: Vec<Permission>,
    /// Lifetime (humantime). Default 1h.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) expires_in: Duration,
}

/// `presign` arguments.
#[derive(Debug, Clone, Args)]
pub struct PresignArgs {
    /// The key that signs.
    #[command(flatten)]
    pub(crate) signer: Signer,
    /// `GET` or `HEAD` (one URL serves both).
    #[arg(long, default_value = "GET")]
    pub(crate) method: String,
    /// Validity (humantime), at most 7 days. Default 1h.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) valid_for: Duration,
    /// Server base URL (with `--usecase`).
    #[arg(
        long = "url",
        id = "server_url",
        env = "OBJECTSTORE_URL",
        value_name = "URL"
    )]
    pub(crate) server_url: Option<String>,
    /// Usecase; when given, the positional argument is an object key, not a URL.
    #[arg(short = 'u', long)]
    pub(crate) usecase: Option<String>,
    /// Scope `NAME=VALUE`, repeatable, in order (with `--usecase`).
    #[arg(
        short = 's',
        long = "scope",
        value_name = "NAME=VALUE",
        requires = "usecase"
    )]
    pub(crate) scopes: Vec<String>,
    /// Print `{"url", "method", "expires_at"}`.
    #[arg(long)]
    pub(crate) json: bool,
    /// No notes on stderr (errors are still printed).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The object URL, path percent-encoded as clients send it, without query; with
    /// `--usecase`, the object key.
    pub(crate) url: String,
}

/// `keygen`: the two file names.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<String> {
    let (private, public) = signing::keygen(&args.prefix).map_err(|e| failure(&e))?;
    Ok(format!(
        "private key: {}\npublic key: {}",
        private.display(),
        public.display()
    ))
}

/// `token`: the token.
pub(crate) fn token(args: &TokenArgs) -> Result<String> {
    let key = read_key(&args.signer, Exit::Usage)?;
    let usecase = Usecase::new(args.usecase.as_str())
        .map_err(|e| ClientError::usage(format!("--usecase {:?}: {e}", args.usecase)))?;
    let scopes = parse_scopes(&args.scopes)?;
    let permissions = if args.permissions.is_empty() {
        Permission::ALL.to_vec()
    } else {
        args.permissions.clone()
    };
    signing::token(
        &args.signer.kid,
        &key,
        usecase.as_str(),
        &scopes.as_api_path(),
        &permissions,
        args.expires_in,
    )
    .map_err(|e| failure(&e))
}

/// `presign`: the URL and its JSON form.
pub(crate) fn presign(args: &PresignArgs, out: &Output) -> Result<(String, serde_json::Value)> {
    let url = match &args.usecase {
        Some(usecase) => presign_address(args, usecase)?,
        None => presign_url(args)?,
    };
    let method = args.method.to_ascii_uppercase();
    if method == "HEAD" {
        out.note("note: this URL is the same as for GET: one pre-signed URL serves GET and HEAD");
    }
    let json = json!({
        "url": url,
        "method": method,
        "expires_at": objectstore_types::time::format(SystemTime::now() + args.valid_for),
    });
    Ok((url, json))
}

/// Signs a full object URL (server-side exit codes).
fn presign_url(args: &PresignArgs) -> Result<String> {
    let key = read_key(&args.signer, Exit::Usage)?;
    signing::presign_url(
        &args.method,
        &args.url,
        &args.signer.kid,
        &key,
        args.valid_for,
    )
    .map_err(|e| match e {
        ToolError::NotAUrl(_) => ClientError::usage(format!(
            "{e} (to sign an object key, give its usecase with -u/--usecase)"
        )),
        other => failure(&other),
    })
}

/// Signs `{url}/v1/objects/{usecase}/{scopes}/{key}` (client exit codes).
fn presign_address(args: &PresignArgs, usecase: &str) -> Result<String> {
    let connection = Connection {
        url: args
            .server_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8888".to_owned()),
        token: None,
        kid: None,
        private_key: None,
        json: args.json,
        quiet: true,
    };
    let api = Api::new(&connection, usecase, parse_scopes(&args.scopes)?)?;
    let key = read_key(&args.signer, Exit::Auth)?;
    signing::presign_url(
        &args.method,
        &api.object_url(&args.url),
        &args.signer.kid,
        &key,
        args.valid_for,
    )
    .map_err(|e| ClientError::usage(e.to_string()))
}

/// The signer's private key; a missing or unreadable file fails with `exit`.
fn read_key(signer: &Signer, exit: Exit) -> Result<objectstore_auth::SigningKey> {
    signing::read_private_key(&signer.key).map_err(|e| ClientError::new(exit, e.to_string()))
}

/// A signing failure that is not the command line's fault (exit 1).
fn failure(e: &ToolError) -> ClientError {
    ClientError::other(e.to_string())
}
