//! Reading a successful reply's JSON body, the one way both clients do it (error bodies are
//! sniffed by each client's own error reader, which tries several shapes).

use serde::de::DeserializeOwned;

/// Decodes a JSON body into `T`. The body's UTF-8 is checked once and the text parsed as a
/// `str`: serde_json's byte-slice reader checks every string of the body on its own, which was
/// a sixth of decoding a 20-row Cortex page (`docs/benchmarks.md`). A body that is not UTF-8
/// is parsed as bytes, so the error says where it goes wrong, as it always did.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bad_bytes_decode_as_serde_json_alone_would() {
        let v: Vec<String> = decode_json(br#"["a", "\u00e9", "\u65e5"]"#).unwrap();
        assert_eq!(v, ["a", "é", "日"]);
        let bad = decode_json::<Vec<String>>(b"[\"a\xff\"]").unwrap_err();
        let direct = serde_json::from_slice::<Vec<String>>(b"[\"a\xff\"]").unwrap_err();
        assert_eq!(bad.to_string(), direct.to_string());
        let truncated = decode_json::<Vec<String>>(b"[\"a\"").unwrap_err();
        assert!(truncated.is_eof(), "{truncated}");
    }
}
