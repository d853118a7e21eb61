//! The SASL initial responses mail software sends to log in with an OAuth
//! access token: Google's XOAUTH2 and RFC 7628's OAUTHBEARER, base64-encoded
//! as IMAP `AUTHENTICATE` and SMTP `AUTH` take them. Both carry the token,
//! so both are [`Secret`]s.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::secrets::Secret;

/// `user=<email>^Aauth=Bearer <token>^A^A`, base64.
pub fn xoauth2(user: &str, token: &Secret) -> Secret {
    let raw = format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose());
    Secret::new(STANDARD.encode(raw))
}

/// RFC 7628 §3.1: the GS2 header naming the user (`,` and `=` escaped as
/// `=2C` and `=3D`), then `auth=Bearer <token>`, base64.
pub fn oauthbearer(user: &str, token: &Secret) -> Secret {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    let raw = format!("n,a={user},\x01auth=Bearer {}\x01\x01", token.expose());
    Secret::new(STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(s: &Secret) -> String {
        String::from_utf8(STANDARD.decode(s.expose()).unwrap()).unwrap()
    }

    #[test]
    fn xoauth2_is_googles_format() {
        // The example in Google's XOAUTH2 documentation.
        let s = xoauth2(
            "someuser@example.com",
            &Secret::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
        );
        assert_eq!(
            s.expose(),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_follows_rfc_7628_and_escapes_the_user() {
        let s = oauthbearer(
            "user@example.com",
            &Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
        );
        assert_eq!(
            decoded(&s),
            "n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let odd = oauthbearer("a,b=c@example.com", &Secret::new("t"));
        assert!(decoded(&odd).starts_with("n,a=a=2Cb=3Dc@example.com,\x01"));
    }
}
