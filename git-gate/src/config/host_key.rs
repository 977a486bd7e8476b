//! The pinned upstream host key: `<type> <base64> [comment]`, checked to be a real key blob.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Key types OpenSSH accepts as host keys.
pub const KNOWN_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A host key the gate accepts for one upstream (and no other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Algorithm name, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// The key blob, base64 as in `known_hosts`.
    pub base64: String,
}

impl HostKey {
    /// The line for a `known_hosts` file, under the name ssh looks the key up by.
    pub fn known_hosts_line(&self, alias: &str) -> String {
        format!("{alias} {} {}\n", self.key_type, self.base64)
    }
}

/// Parse `<type> <base64> [comment]`; the error says what is wrong and what to write.
pub fn parse_host_key(text: &str) -> Result<HostKey, String> {
    let mut fields = text.split_ascii_whitespace();
    let (Some(first), second) = (fields.next(), fields.next()) else {
        return Err("the host key is empty; write `<type> <base64>`, e.g. the output of `ssh-keyscan` without the host name".into());
    };
    if !KNOWN_KEY_TYPES.contains(&first) {
        if second.is_some_and(|s| KNOWN_KEY_TYPES.contains(&s)) {
            return Err(format!(
                "this looks like a known_hosts line; drop the leading host name `{}` and keep `<type> <base64>`",
                first.escape_default()
            ));
        }
        return Err(format!(
            "unknown key type `{}`; expected one of: {}",
            first.escape_default(),
            KNOWN_KEY_TYPES.join(", ")
        ));
    }
    let Some(b64) = second else {
        return Err(format!(
            "the `{first}` key has no base64 key data after the type"
        ));
    };
    let blob = STANDARD
        .decode(b64)
        .map_err(|e| format!("the key data is not valid base64 ({e})"))?;
    let embedded = blob_type(&blob).ok_or("the key data is too short to be an SSH public key")?;
    if embedded != first.as_bytes() {
        return Err(format!(
            "the key data is a `{}` key but the line says `{first}`",
            String::from_utf8_lossy(embedded).escape_default()
        ));
    }
    Ok(HostKey {
        key_type: first.to_string(),
        base64: b64.to_string(),
    })
}

/// The algorithm name at the start of an SSH wire-format public key blob.
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    (blob.len() > 4 + len).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(kind: &str, body: &[u8]) -> String {
        let mut blob = (kind.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(kind.as_bytes());
        blob.extend_from_slice(&(body.len() as u32).to_be_bytes());
        blob.extend_from_slice(body);
        STANDARD.encode(blob)
    }

    #[test]
    fn real_shaped_key_parses() {
        let b64 = key_of("ssh-ed25519", &[7; 32]);
        let k = parse_host_key(&format!("ssh-ed25519 {b64} host@example")).unwrap();
        assert_eq!(k.key_type, "ssh-ed25519");
        assert_eq!(k.known_hosts_line("up"), format!("up ssh-ed25519 {b64}\n"));
    }

    #[test]
    fn mismatched_type_is_refused() {
        let b64 = key_of("ssh-rsa", &[7; 32]);
        let e = parse_host_key(&format!("ssh-ed25519 {b64}")).unwrap_err();
        assert!(e.contains("`ssh-rsa` key"), "{e}");
    }

    #[test]
    fn bad_inputs_say_why() {
        assert!(parse_host_key("").unwrap_err().contains("empty"));
        assert!(
            parse_host_key("ssh-dss AAAA")
                .unwrap_err()
                .contains("unknown key type")
        );
        assert!(
            parse_host_key("ssh-ed25519")
                .unwrap_err()
                .contains("no base64")
        );
        assert!(
            parse_host_key("ssh-ed25519 !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            parse_host_key("ssh-ed25519 AAAA")
                .unwrap_err()
                .contains("too short")
        );
        let b64 = key_of("ssh-ed25519", &[1; 32]);
        let e = parse_host_key(&format!("github.com ssh-ed25519 {b64}")).unwrap_err();
        assert!(e.contains("known_hosts line"), "{e}");
    }
}
