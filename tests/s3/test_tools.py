"""The aws cli and rclone against the real binary, with 20 MiB files (multipart uploads).

Phase-2 markers: `aws s3 sync` and `rclone check` list objects (ListObjectsV2), which waits
for the engine's listing; they are expected to fail with `NotImplemented` until then.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import S3Server

MiB = 1024 * 1024


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def aws(server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    aws_bin = shutil.which("aws")
    if aws_bin is None:
        pytest.fail("the aws cli is missing: run through tests/s3/run.sh", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "any-key",
            "AWS_SECRET_ACCESS_KEY": "any-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
    )
    return subprocess.run(
        [aws_bin, "--endpoint-url", server.endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def rclone(server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    rclone_bin = shutil.which("rclone")
    if rclone_bin is None:
        message = "rclone is missing (Debian package `rclone`; tests/s3/run.sh installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    # rclone refuses http endpoints when a custom CA bundle is configured.
    env.pop("AWS_CA_BUNDLE", None)
    env.update(
        {
            "RCLONE_CONFIG": "/dev/null",
            "RCLONE_CONFIG_OS_TYPE": "s3",
            "RCLONE_CONFIG_OS_PROVIDER": "Other",
            "RCLONE_CONFIG_OS_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_OS_ACCESS_KEY_ID": "any-key",
            "RCLONE_CONFIG_OS_SECRET_ACCESS_KEY": "any-secret",
            "RCLONE_CONFIG_OS_REGION": "us-east-1",
        }
    )
    return subprocess.run(
        [rclone_bin, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.large
def test_aws_cli(server: S3Server, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MiB + 7))
    ok(aws(server, "s3", "mb", "s3://cli-bucket"))
    assert "cli-bucket" in ok(aws(server, "s3", "ls"))
    ok(aws(server, "s3", "cp", str(big), "s3://cli-bucket/dir/big.bin"))
    back = tmp_path / "back.bin"
    ok(aws(server, "s3", "cp", "s3://cli-bucket/dir/big.bin", str(back)))
    assert digest(back) == digest(big)
    head = ok(aws(server, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big.bin"))
    assert str(20 * MiB + 7) in head
    ok(aws(server, "s3", "rm", "s3://cli-bucket/dir/big.bin"))
    gone = aws(server, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big.bin")
    assert gone.returncode != 0 and "404" in gone.stderr

    # Phase 2: sync lists the bucket.
    sync = aws(server, "s3", "sync", str(tmp_path), "s3://cli-bucket/synced")
    assert sync.returncode != 0 and "NotImplemented" in sync.stderr, sync.stderr


@pytest.mark.large
def test_rclone(server: S3Server, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "small.txt").write_text("small file\n")
    (source / "nested" / "big.bin").write_bytes(os.urandom(20 * MiB + 11))
    multipart = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    ok(rclone(server, "mkdir", "os:rclone-bucket"))
    # `--no-traverse`: check each destination file with HEAD instead of listing the bucket.
    ok(rclone(server, "copy", "--no-traverse", *multipart, str(source), "os:rclone-bucket/copy"))
    back = tmp_path / "back"
    for name in ["small.txt", "nested/big.bin"]:
        ok(rclone(server, "copyto", f"os:rclone-bucket/copy/{name}", str(back / name)))
        assert digest(back / name) == digest(source / name)

    # Phase 2: check lists the bucket and compares MD5s with ETags.
    check = rclone(server, "check", str(source), "os:rclone-bucket/copy")
    assert check.returncode != 0 and "NotImplemented" in check.stderr, check.stderr
