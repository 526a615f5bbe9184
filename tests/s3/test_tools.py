"""The aws cli and rclone against the real binary, with 20 MiB files (multipart uploads):
`aws s3 cp / ls / sync / rm`, `rclone copy / check / sync` (both list through
ListObjectsV2; `rclone check` compares MD5s with ETags where the server serves MD5 ETags).
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

    # sync: uploads what differs, lists the bucket to compare, and a second run uploads
    # nothing; down again into an empty directory; rm --recursive empties the bucket.
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "big.bin").write_bytes(os.urandom(20 * MiB + 3))
    (tree / "a.txt").write_text("hello\n")
    (tree / "é b.txt").write_text("non-ascii name\n")
    first = ok(aws(server, "s3", "sync", str(tree), "s3://cli-bucket/synced"))
    assert first.count("upload:") == 3, first
    listing = ok(aws(server, "s3", "ls", "--recursive", "s3://cli-bucket/synced/"))
    for name in ["synced/a.txt", "synced/sub/big.bin", "synced/é b.txt"]:
        assert name in listing, listing
    assert ok(aws(server, "s3", "sync", str(tree), "s3://cli-bucket/synced")) == ""
    down = tmp_path / "down"
    ok(aws(server, "s3", "sync", "s3://cli-bucket/synced", str(down)))
    for name in ["a.txt", "sub/big.bin", "é b.txt"]:
        assert digest(down / name) == digest(tree / name), name
    ok(aws(server, "s3", "rm", "--recursive", "s3://cli-bucket/synced"))
    assert ok(aws(server, "s3", "ls", "--recursive", "s3://cli-bucket/")) == ""
    ok(aws(server, "s3", "rb", "s3://cli-bucket"))
    assert "cli-bucket" not in ok(aws(server, "s3", "ls"))


def serves_md5_etags(server: S3Server) -> bool:
    """Whether single PUTs get their MD5 as ETag (the engine stamps MD5s), probed once."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="any-key",
        aws_secret_access_key="any-secret",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket="md5-probe")
    etag = client.put_object(Bucket="md5-probe", Key="probe", Body=b"probe")["ETag"]
    return etag.strip('"') == hashlib.md5(b"probe").hexdigest()


@pytest.mark.large
def test_rclone(server: S3Server, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "small.txt").write_text("small file\n")
    (source / "nested" / "big.bin").write_bytes(os.urandom(20 * MiB + 11))
    multipart = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    ok(rclone(server, "mkdir", "os:rclone-bucket"))
    ok(rclone(server, "copy", *multipart, str(source), "os:rclone-bucket/copy"))
    back = tmp_path / "back"
    for name in ["small.txt", "nested/big.bin"]:
        ok(rclone(server, "copyto", f"os:rclone-bucket/copy/{name}", str(back / name)))
        assert digest(back / name) == digest(source / name)
    listed = ok(rclone(server, "lsf", "-R", "os:rclone-bucket/copy"))
    assert sorted(listed.split()) == ["nested/", "nested/big.bin", "small.txt"]

    # check lists the bucket and compares each file's MD5 with the ETag (single PUTs) or
    # the MD5 rclone stored in the metadata (its multipart uploads).
    check = rclone(server, "check", str(source), "os:rclone-bucket/copy")
    report = check.stdout + check.stderr
    assert check.returncode == 0, report
    assert "0 differences found" in report, report
    if serves_md5_etags(server):
        assert "hashes could not be checked" not in report, report
        assert "No common hash" not in report, report
    # A changed file is a difference, found by size here and by hash above.
    (source / "small.txt").write_text("changed content\n")
    changed = rclone(server, "check", str(source), "os:rclone-bucket/copy")
    assert changed.returncode != 0 and "1 differences found" in changed.stdout + changed.stderr
    # sync makes the bucket match again (and deletes what the source lacks).
    (source / "nested" / "big.bin").unlink()
    ok(rclone(server, "sync", str(source), "os:rclone-bucket/copy"))
    ok(rclone(server, "check", str(source), "os:rclone-bucket/copy"))
    # S3 has no directories: `nested/` went with its last file.
    assert ok(rclone(server, "lsf", "-R", "os:rclone-bucket/copy")).split() == ["small.txt"]
