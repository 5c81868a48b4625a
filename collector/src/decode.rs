//! Body decompression with a hard cap on the output (zip-bomb safe).

use crate::error::ApiError;
use std::io::Read;

/// Decompresses `body` per `Content-Encoding`, refusing output beyond
/// `limit` bytes.
pub fn decompress(encoding: Option<&str>, body: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let enc = encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let reader: Box<dyn Read + '_> = match enc.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(ApiError::DecompressedTooLarge(limit));
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        "br" => Box::new(brotli_decompressor::Decompressor::new(body, 4096)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| ApiError::BadCompression(e.to_string()))?,
        ),
        other => return Err(ApiError::BadEncoding(other.chars().take(40).collect())),
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadCompression(e.to_string()))?;
    if out.len() > limit {
        return Err(ApiError::DecompressedTooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn roundtrips_and_caps_output() {
        let data = vec![b'a'; 10_000];
        assert_eq!(
            decompress(Some("gzip"), &gzip(&data), 10_000).unwrap(),
            data
        );
        let z = zstd::stream::encode_all(&data[..], 1).unwrap();
        assert_eq!(decompress(Some("zstd"), &z, 10_000).unwrap(), data);
        // A bomb: 10 MB of zeros in a few KB.
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        assert!(matches!(
            decompress(Some("gzip"), &bomb, 1 << 20),
            Err(ApiError::DecompressedTooLarge(_))
        ));
        assert!(matches!(
            decompress(Some("compress"), b"x", 10),
            Err(ApiError::BadEncoding(_))
        ));
        assert!(matches!(
            decompress(Some("gzip"), b"not gzip", 10),
            Err(ApiError::BadCompression(_))
        ));
    }
}
