//! The aws-chunked decoder on well-formed bodies split at every byte, and on broken ones.

use futures::StreamExt as _;
use proptest::prelude::*;

use super::*;

fn encode(data: &[u8], chunk: usize, signed: bool, trailer: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let ext = if signed {
        ";chunk-signature=0000000000000000000000000000000000000000000000000000000000000000"
    } else {
        ""
    };
    for piece in data.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}{ext}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0{ext}\r\n").as_bytes());
    if let Some(t) = trailer {
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\r\nx-amz-trailer-signature:abc\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn decode(
    input: Vec<u8>,
    split: usize,
    expected: u64,
) -> (Result<Vec<u8>, BodyError>, OwnTrailers) {
    let pieces: Vec<Result<Bytes, StdError>> = input
        .chunks(split.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let trailers = OwnTrailers::default();
    let mut decoder = Decoder::new(futures::stream::iter(pieces), expected, trailers.clone());
    let mut out = Vec::new();
    while let Some(item) = decoder.next().await {
        match item {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (Err(BodyError::classify(e.as_ref())), trailers),
        }
    }
    (Ok(out), trailers)
}

#[tokio::test]
async fn decodes_with_trailers() {
    let data = b"hello aws-chunked world".to_vec();
    let body = encode(&data, 5, true, Some("x-amz-checksum-crc32:AAAAAA=="));
    let (out, trailers) = decode(body, 3, data.len() as u64).await;
    assert_eq!(out.unwrap(), data);
    let crc = trailers.read(|h| {
        h.get("x-amz-checksum-crc32")
            .map(|v| v.to_str().unwrap().to_owned())
    });
    assert_eq!(crc.as_deref(), Some("AAAAAA=="));
}

#[tokio::test]
async fn broken_bodies_fail_with_a_reason() {
    let data = b"0123456789".to_vec();
    let good = encode(&data, 4, false, None);
    let cases: Vec<(Vec<u8>, u64)> = vec![
        (b"zz\r\nabc\r\n0\r\n\r\n".to_vec(), 3),
        (b"3\r\nabcX\r\n0\r\n\r\n".to_vec(), 3),
        (b"3\r\nab".to_vec(), 3),
        ([good.clone(), b"junk".to_vec()].concat(), 10),
        (good.clone(), 11),
        (good.clone(), 9),
        (vec![b'1'; MAX_LINE + 10], 1),
        (b"3\r\nabc\r\n0\r\nno-colon-here\r\n\r\n".to_vec(), 3),
    ];
    for (i, (body, expected)) in cases.into_iter().enumerate() {
        let (out, _) = decode(body, 2, expected).await;
        let err = out.expect_err(&format!("case {i} decoded"));
        assert!(
            matches!(err, BodyError::Framing(_) | BodyError::Incomplete(_)),
            "case {i}: {err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(21),
        ..ProptestConfig::default()
    })]

    /// Any body, any chunking, any split of the input: the data comes back unchanged.
    #[test]
    fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..64, split in 1usize..50, signed in any::<bool>()) {
        let body = encode(&data, chunk, signed, Some("x-amz-checksum-sha256:abc"));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (out, _) = rt.block_on(decode(body, split, data.len() as u64));
        prop_assert_eq!(out.unwrap(), data);
    }
}
