//! The command line client for people: `objectstore put | get | head | rm` and the
//! object-addressing form of `objectstore presign`, talking to a server over HTTP
//! (see docs/cli.md for usage).
//!
//! Layout by responsibility:
//! * [`args`]: flags, environment variables and their validation (usage errors, exit 2);
//! * [`http`]: URLs, credentials (static token or a token minted per request from a
//!   private key), error responses → [`error::ClientError`] with the server's message;
//! * [`transfer`]: the commands; bodies are streamed, never buffered whole;
//! * [`upload`]: multipart uploads of large files and their resume protocol;
//! * [`state`]: the resume state file;
//! * [`progress`]: progress bars and the rate limit;
//! * [`output`]: text or `--json` results on stdout, errors once on stderr;
//! * [`error`]: failures and the documented exit codes (0 ok, 1 other, 2 usage, 3 not
//!   found, 4 auth, 5 conflict/precondition, 6 server/unavailable).
//!
//! The HTTP client is reqwest's blocking client (rustls): the commands are sequential, and
//! blocking readers let files, stdin and zstd streams feed request bodies directly.

pub mod args;
pub mod error;
pub mod http;
pub mod output;
pub mod progress;
pub mod state;
pub mod transfer;
pub mod upload;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use self::args::{GetArgs, KeyArgs, PresignArgs, PutArgs};
use self::output::Output;

/// The client subcommands (flattened into the top-level command line).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Upload a file or stdin as an object (large files resumably, in parts).
    Put(Box<PutArgs>),
    /// Download an object to a file or stdout.
    Get(GetArgs),
    /// Print an object's metadata.
    Head(KeyArgs),
    /// Delete an object.
    #[command(visible_alias = "delete")]
    Rm(KeyArgs),
}

/// Runs a client command and returns the documented exit code.
pub fn main(command: &ClientCommand) -> ExitCode {
    let connection = match command {
        ClientCommand::Put(a) => &a.connection,
        ClientCommand::Get(a) => &a.connection,
        ClientCommand::Head(a) | ClientCommand::Rm(a) => &a.connection,
    };
    let out = Output {
        json: connection.json,
        quiet: connection.quiet,
    };
    let result = match command {
        ClientCommand::Put(a) => transfer::put(a, &out),
        ClientCommand::Get(a) => transfer::get(a, &out),
        ClientCommand::Head(a) => transfer::head(a, &out),
        ClientCommand::Rm(a) => transfer::rm(a, &out),
    };
    finish(&out, result)
}

/// `presign` with `--usecase`: prints the URL (or `--json`).
pub fn presign(
    kid: &str,
    key_file: &Path,
    method: &str,
    valid_for: Duration,
    address: &PresignArgs,
    object_key: &str,
) -> ExitCode {
    let out = Output {
        json: address.json,
        quiet: true,
    };
    let result = transfer::presign(kid, key_file, method, valid_for, address, object_key)
        .map(|(url, json)| out.result(&json, &url));
    finish(&out, result)
}

fn finish(out: &Output, result: error::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit.code())
        }
    }
}
