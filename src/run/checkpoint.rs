//! Checkpoints: named tensors plus string metadata in one safetensors file, written
//! atomically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tch::{Device, Kind, Tensor};

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: cannot write the checkpoint: {message}")]
    Write { path: String, message: String },
    #[error("{path}: cannot read the checkpoint: {message}")]
    Read { path: String, message: String },
}

/// The contents of a checkpoint file.
pub struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

/// Writes tensors and metadata to `path` atomically.
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
) -> Result<u64, CheckpointError> {
    let error =
        |message: String| CheckpointError::Write { path: path.display().to_string(), message };
    let host: Vec<(String, Tensor, Dtype)> = tensors
        .iter()
        .map(|(name, tensor)| {
            let tensor = tensor.detach().to_device(Device::Cpu).contiguous();
            let dtype = dtype_of(tensor.kind())
                .ok_or_else(|| error(format!("{name} has an unsupported type")))?;
            Ok((name.clone(), tensor, dtype))
        })
        .collect::<Result<_, CheckpointError>>()?;

    let buffers: Vec<Vec<u8>> = host.iter().map(|(_, tensor, _)| bytes_of(tensor)).collect();
    let mut views = Vec::with_capacity(host.len());
    for ((name, tensor, dtype), bytes) in host.iter().zip(&buffers) {
        let shape: Vec<usize> = tensor.size().iter().map(|d| *d as usize).collect();
        let view = TensorView::new(*dtype, shape, bytes).map_err(|e| error(e.to_string()))?;
        views.push((name.clone(), view));
    }

    let bytes =
        safetensors::serialize(views, Some(metadata.clone())).map_err(|e| error(e.to_string()))?;
    super::write_atomic(path, &bytes).map_err(|e| error(e.to_string()))?;
    Ok(bytes.len() as u64)
}

/// Reads a checkpoint onto `device`.
pub fn load(path: &Path, device: Device) -> Result<Checkpoint, CheckpointError> {
    let error =
        |message: String| CheckpointError::Read { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| error(format!("not a safetensors file ({e})")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| error(e.to_string()))?;

    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        let kind = kind_of(view.dtype())
            .ok_or_else(|| error(format!("{name} has an unsupported type")))?;
        let shape: Vec<i64> = view.shape().iter().map(|d| *d as i64).collect();
        let tensor = Tensor::f_from_data_size(view.data(), &shape, kind)
            .map_err(|e| error(e.to_string()))?
            .to_device(device);
        tensors.insert(name, tensor);
    }
    let metadata = header.metadata().clone().unwrap_or_default();
    Ok(Checkpoint { tensors, metadata })
}

/// Reads only a checkpoint's metadata, without its tensors.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>, CheckpointError> {
    use std::io::Read;
    let error =
        |message: String| CheckpointError::Read { path: path.display().to_string(), message };
    let mut file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).map_err(|e| error(e.to_string()))?;
    let length = u64::from_le_bytes(length) as usize;
    if length > 100 << 20 {
        return Err(error("not a safetensors file (its header length is implausible)".into()));
    }
    let mut header = vec![0u8; length];
    file.read_exact(&mut header).map_err(|e| error(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| error(format!("not a safetensors file ({e})")))?;
    let metadata = json
        .get("__metadata__")
        .and_then(|m| serde_json::from_value::<HashMap<String, String>>(m.clone()).ok())
        .unwrap_or_default();
    Ok(metadata)
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    match kind {
        Kind::Float => Some(Dtype::F32),
        Kind::Double => Some(Dtype::F64),
        Kind::Int64 => Some(Dtype::I64),
        Kind::Half => Some(Dtype::F16),
        Kind::BFloat16 => Some(Dtype::BF16),
        _ => None,
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F64 => Some(Kind::Double),
        Dtype::I64 => Some(Kind::Int64),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        _ => None,
    }
}

fn bytes_of(tensor: &Tensor) -> Vec<u8> {
    let count = tensor.numel() * tensor.kind().elt_size_in_bytes();
    let mut bytes = vec![0u8; count];
    tensor.copy_data_u8(&mut bytes, tensor.numel());
    bytes
}
