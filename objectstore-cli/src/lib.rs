//! The `objectstore` command line for people and scripts, as a library the `objectstore`
//! binary (crate `objectstore-server`) flattens into its own command line: the client
//! commands `put | get | head | rm` talk to a server over HTTP; the signing commands
//! `keygen | token | presign` work locally. Usage: docs/cli.md. This crate does not depend
//! on the server: what both sides share (key files, token claims, the pre-signed URL's
//! canonical string) is `objectstore-auth`.
//!
//! Start at [`Command`] (every command and flag) and [`run`]. Layout by responsibility:
//! * `args`: flags of the client commands, environment variables and their validation
//!   (usage errors, exit 2);
//! * `http`: URLs, credentials (static token or a token minted per request from a private
//!   key), error responses → `ClientError` with the server's message;
//! * `transfer`: the client commands; bodies are streamed, never buffered whole;
//! * `upload`: multipart uploads of large files and their resume protocol;
//! * `state`: the resume state file;
//! * `progress`: progress bars and the rate limit;
//! * `tools`: the signing commands and their flags;
//! * `output`: text or `--json` results on stdout, notes and errors once on stderr;
//! * `error`: failures and the documented exit codes (0 ok, 1 other, 2 usage, 3 not found,
//!   4 auth, 5 conflict/precondition, 6 server/unavailable).
//!
//! The HTTP client is reqwest's blocking client (rustls): the commands are sequential, and
//! blocking readers let files, stdin and zstd streams feed request bodies directly.

mod args;
mod error;
mod http;
mod output;
mod progress;
mod state;
mod tools;
mod transfer;
mod upload;

use std::process::ExitCode;

use clap::Subcommand;

use crate::args::{GetArgs, KeyArgs, PutArgs};
use crate::output::Output;
use crate::tools::{KeygenArgs, PresignArgs, TokenArgs};

/// The commands of this crate (flattened into the binary's command line).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload a file or stdin as an object (large files resumably, in parts).
    Put(Box<PutArgs>),
    /// Download an object to a file or stdout.
    Get(GetArgs),
    /// Print an object's metadata.
    Head(KeyArgs),
    /// Delete an object.
    #[command(visible_alias = "delete")]
    Rm(KeyArgs),
    /// Write a new Ed25519 key pair: `<prefix>.private.pem` (mode 0600) and
    /// `<prefix>.public.pem` (for `auth.keys.<kid>.key_files`).
    Keygen(KeygenArgs),
    /// Print a token (JWT) signed with a private key.
    Token(TokenArgs),
    /// Print a pre-signed URL for a GET or HEAD of an object URL (or, with `--usecase`, of
    /// an object key on the server at `--url`).
    Presign(Box<PresignArgs>),
}

/// Runs a command, prints its result or its error, and returns the documented exit code.
pub fn run(command: &Command) -> ExitCode {
    let out = match command {
        Command::Put(a) => a.connection.output(),
        Command::Get(a) => a.connection.output(),
        Command::Head(a) | Command::Rm(a) => a.connection.output(),
        Command::Presign(a) => Output {
            json: a.json,
            quiet: a.quiet,
        },
        Command::Keygen(_) | Command::Token(_) => Output {
            json: false,
            quiet: false,
        },
    };
    let result = match command {
        Command::Put(a) => transfer::put(a, &out),
        Command::Get(a) => transfer::get(a, &out),
        Command::Head(a) => transfer::head(a, &out),
        Command::Rm(a) => transfer::rm(a, &out),
        Command::Keygen(a) => tools::keygen(a).map(|text| out.text(&text)),
        Command::Token(a) => tools::token(a).map(|text| out.text(&text)),
        Command::Presign(a) => tools::presign(a, &out).map(|(url, json)| out.result(&json, &url)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit.code())
        }
    }
}
