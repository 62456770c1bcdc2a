//! The little DER needed to wrap PKCS#1 and SEC1 private keys into PKCS#8, which is the
//! only private-key form the ring backend loads.

/// DER tag of SEQUENCE.
const SEQUENCE: u8 = 0x30;
/// DER tag of INTEGER.
const INTEGER: u8 = 0x02;
/// DER tag of OCTET STRING.
const OCTET_STRING: u8 = 0x04;
/// DER tag of NULL.
const NULL: u8 = 0x05;
/// DER tag of OBJECT IDENTIFIER.
const OID: u8 = 0x06;
/// Context-specific constructed tag [0] (ECPrivateKey parameters).
const CONTEXT_0: u8 = 0xa0;

/// rsaEncryption, 1.2.840.113549.1.1.1 (content octets).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1 (content octets).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in the short form.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let significant = &bytes[first..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Encodes one TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Reads one TLV from the front of `input`: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier, OCTET STRING key }.
fn private_key_info(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = tlv(INTEGER, &[0]);
    body.extend(tlv(SEQUENCE, algorithm));
    body.extend(tlv(OCTET_STRING, key));
    tlv(SEQUENCE, &body)
}

/// Wraps a PKCS#1 RSAPrivateKey into PKCS#8.
pub(crate) fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut alg = tlv(OID, OID_RSA_ENCRYPTION);
    alg.extend(tlv(NULL, &[]));
    private_key_info(&alg, pkcs1)
}

/// Wraps a SEC1 ECPrivateKey into PKCS#8. The curve comes from the key's own `parameters`
/// field, or, when absent, from the private scalar's length (32 bytes: P-256, 48: P-384).
pub(crate) fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (tag, body, _) = read_tlv(sec1).ok_or("not a DER structure")?;
    if tag != SEQUENCE {
        return Err("ECPrivateKey is not a SEQUENCE");
    }
    let (tag, version, rest) = read_tlv(body).ok_or("truncated ECPrivateKey")?;
    if tag != INTEGER || version != [1] {
        return Err("ECPrivateKey version is not 1");
    }
    let (tag, scalar, mut rest) = read_tlv(rest).ok_or("truncated ECPrivateKey")?;
    if tag != OCTET_STRING {
        return Err("ECPrivateKey privateKey is not an OCTET STRING");
    }
    let mut curve: Option<Vec<u8>> = None;
    while let Some((tag, content, next)) = read_tlv(rest) {
        if tag == CONTEXT_0 {
            let (inner_tag, _, _) = read_tlv(content).ok_or("truncated ECPrivateKey parameters")?;
            if inner_tag != OID {
                return Err("ECPrivateKey parameters are not a named curve");
            }
            curve = Some(content.to_vec());
        }
        rest = next;
    }
    let curve = match curve {
        Some(c) => c,
        // 1.2.840.10045.3.1.7 (P-256) and 1.3.132.0.34 (P-384), as full TLVs.
        None => match scalar.len() {
            32 => vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            48 => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            _ => return Err("ECPrivateKey names no curve and its size matches none supported"),
        },
    };
    let mut alg = tlv(OID, OID_EC_PUBLIC_KEY);
    alg.extend(curve);
    Ok(private_key_info(&alg, sec1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_short_and_long_forms() {
        let mut out = Vec::new();
        push_len(&mut out, 5);
        assert_eq!(out, [5]);
        out.clear();
        push_len(&mut out, 200);
        assert_eq!(out, [0x81, 200]);
        out.clear();
        push_len(&mut out, 0x1234);
        assert_eq!(out, [0x82, 0x12, 0x34]);
    }

    #[test]
    fn tlv_round_trips_through_reader() {
        let content = vec![7u8; 300];
        let encoded = tlv(OCTET_STRING, &content);
        let (tag, body, rest) = read_tlv(&encoded).unwrap_or((0, &[], &[]));
        assert_eq!(tag, OCTET_STRING);
        assert_eq!(body, content.as_slice());
        assert!(rest.is_empty());
    }

    #[test]
    fn reader_rejects_truncated_input() {
        assert!(read_tlv(&[0x30, 0x05, 0x01]).is_none());
        assert!(read_tlv(&[0x30]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn sec1_without_sequence_is_rejected() {
        assert_eq!(
            sec1_to_pkcs8(&[0x04, 0x01, 0x00]),
            Err("ECPrivateKey is not a SEQUENCE")
        );
    }
}
