//! `application/x-www-form-urlencoded` bodies, decoded strictly: a field whose bytes are not
//! UTF-8 is an error naming the field, not text with replacement characters.

/// A form that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A field's value is not valid UTF-8.
    #[error("the field {field} is not valid UTF-8 text")]
    NotUtf8 {
        /// The field.
        field: String,
    },
    /// A field is longer than allowed.
    #[error("the field {field} is longer than {max} characters ({len} given)")]
    TooLong {
        /// The field.
        field: String,
        /// Characters allowed.
        max: usize,
        /// Characters given.
        len: usize,
    },
    /// A name is not UTF-8 or a percent escape is malformed.
    #[error("the form body is not valid application/x-www-form-urlencoded: {0}")]
    Malformed(String),
}

/// The fields of a form body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `body`.
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut fields = vec![];
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = String::from_utf8(decode(name)?)
                .map_err(|_| FormError::Malformed("a field name is not UTF-8".into()))?;
            let value = String::from_utf8(decode(value)?).map_err(|_| FormError::NotUtf8 {
                field: name.clone(),
            })?;
            fields.push((name, value));
        }
        Ok(Form(fields))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, refused past `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<&str>, FormError> {
        match self.get(name) {
            Some(v) if v.chars().count() > max => Err(FormError::TooLong {
                field: name.to_string(),
                max,
                len: v.chars().count(),
            }),
            v => Ok(v),
        }
    }
}

fn decode(raw: &[u8]) -> Result<Vec<u8>, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        FormError::Malformed("a % is not followed by two hex digits".into())
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded() {
        let f = Form::parse(b"csrf=ab12&reason=looks+right%2C+go%21&empty=&flag").unwrap();
        assert_eq!(f.get("csrf"), Some("ab12"));
        assert_eq!(f.get("reason"), Some("looks right, go!"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("missing"), None);
        assert_eq!(
            Form::parse(b"r=%C3%A9t%C3%A9").unwrap().get("r"),
            Some("été")
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(
            Form::parse(b"csrf=x&reason=%FF%FE"),
            Err(FormError::NotUtf8 {
                field: "reason".into()
            })
        );
        assert!(matches!(
            Form::parse(b"reason=%G1"),
            Err(FormError::Malformed(_))
        ));
        let f = Form::parse(format!("reason={}", "é".repeat(1001)).as_bytes()).unwrap();
        let e = f.text("reason", 1000).unwrap_err();
        assert!(
            e.to_string().contains("reason") && e.to_string().contains("1000"),
            "{e}"
        );
        let f = Form::parse(format!("reason={}", "é".repeat(1000)).as_bytes()).unwrap();
        assert_eq!(
            f.text("reason", 1000).unwrap().unwrap().chars().count(),
            1000
        );
    }
}
