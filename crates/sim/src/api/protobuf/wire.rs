//! The protobuf wire format: varints, field keys and length-delimited fields.

/// A field value as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Wire<'_> {
    /// The wire type's number and name, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "0 (varint)",
            Wire::Fixed64(_) => "1 (64-bit)",
            Wire::Bytes(_) => "2 (length-delimited)",
            Wire::Fixed32(_) => "5 (32-bit)",
        }
    }
}

/// Reads the fields of one message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads one byte as it is.
    pub fn raw_byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads a varint.
    pub fn varint(&mut self) -> Result<u64, String> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {start}"));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {start}"))
    }

    fn take(&mut self, n: usize, tag: u32) -> Result<&'a [u8], String> {
        let rest = self.buf.len() - self.pos;
        if rest < n {
            return Err(format!(
                "field {tag} needs {n} bytes at byte {} but only {rest} remain",
                self.pos
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next field number and value; `None` at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.done() {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|t| *t != 0 && *t < 1 << 29)
            .ok_or_else(|| format!("invalid field number {} at byte {start}", key >> 3))?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                self.take(8, tag)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| format!("field {tag} is too long"))?;
                Wire::Bytes(self.take(len, tag)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4, tag)?.try_into().expect("4 bytes"),
            )),
            t => {
                return Err(format!(
                    "unsupported wire type {t} for field {tag} at byte {start}"
                ));
            }
        };
        Ok(Some((tag, value)))
    }
}

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
pub fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire_type));
}

/// Appends a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, tag: u32, data: &[u8]) {
    put_key(out, tag, 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Appends a varint field.
pub fn put_varint_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    put_key(out, tag, 0);
    put_varint(out, v);
}
