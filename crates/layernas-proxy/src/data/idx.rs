//! IDX files (the MNIST family's format): a magic number, the dimensions, then unsigned bytes.

use super::DataError;
use flate2::read::GzDecoder;
use std::io::Read;

pub(crate) fn gunzip_if_needed(name: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: name.into(),
                reason: format!("not valid gzip: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

pub(crate) fn idx(name: &str, bytes: &[u8], dims: u8) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let corrupt = |reason: String| DataError::Corrupt {
        path: name.into(),
        reason,
    };
    let data = gunzip_if_needed(name, bytes)?;
    if data.len() < 4 || data[0] != 0 || data[1] != 0 || data[2] != 0x08 || data[3] != dims {
        return Err(corrupt(format!(
            "not an IDX file of unsigned bytes with {dims} dimensions"
        )));
    }
    let header = 4 + 4 * dims as usize;
    if data.len() < header {
        return Err(corrupt("truncated header".into()));
    }
    let shape: Vec<usize> = (0..dims as usize)
        .map(|i| {
            u32::from_be_bytes(data[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected: usize = shape.iter().product();
    if data.len() - header != expected {
        return Err(corrupt(format!(
            "{} bytes of data, the header says {expected}",
            data.len() - header
        )));
    }
    Ok((shape, data[header..].to_vec()))
}
