//! Proxies of a network: the same architecture on another input and class count, narrower
//! (width) or with fewer repeated blocks (depth). Every engine trains the proxy, not the
//! space's full network.

use layernas_spaces::network::{Input, Network, NetworkError, Op};

/// `network` for another input and class count, with every channel count scaled by `width`
/// (a proxy); fails if the input no longer fits (a stride shrinking the map below 1x1).
pub fn adapt(
    network: &Network,
    input: Input,
    classes: u32,
    width: f64,
) -> Result<Network, NetworkError> {
    let scale = |c: u32| ((c as f64 * width).round() as u32).max(1);
    let mut net = network.clone();
    net.input = input;
    net.classes = classes;
    let mut cin = input.channels;
    for op in &mut net.layers {
        match op {
            Op::Conv { out, groups, .. } => {
                if *groups > 1 {
                    *groups = cin;
                    *out = cin;
                } else {
                    *out = scale(*out);
                }
                cin = *out;
            }
            Op::Mbconv {
                expanded, out, se, ..
            } => {
                *expanded = scale(*expanded);
                *out = scale(*out);
                if let Some(s) = se {
                    *s = scale(*s);
                }
                cin = *out;
            }
            Op::NatsCell { out } | Op::ResBlock { out, .. } => {
                *out = scale(*out);
                cin = *out;
            }
            Op::Linear { out, .. } => {
                if *out != 0 {
                    *out = scale(*out);
                    cin = *out;
                } else {
                    cin = classes;
                }
            }
            Op::Pool { .. } | Op::GlobalPool | Op::BnAct { .. } => {}
        }
    }
    net.layer_costs()?;
    Ok(net)
}

/// `network` with fewer repeated blocks (a depth proxy, `depth` in (0, 1]). A repeated block is
/// one that keeps its input's shape behind a residual connection (an MBConv of stride 1 with equal
/// input and output channels, a stride-1 ResNet block or a NATS cell of equal channels), so it can
/// go without changing any other layer. Each maximal run of `n` such blocks keeps its first
/// `ceil(depth * (n + 1)) - 1`: the run and the shape-changing block before it form a stage of
/// `n + 1` blocks, scaled as EfficientNet scales a stage's repeats.
pub fn scale_depth(network: &Network, depth: f64) -> Result<Network, NetworkError> {
    let rows = network.layer_costs()?;
    let repeated: Vec<bool> = network
        .layers
        .iter()
        .zip(&rows)
        .map(|(op, row)| {
            let same = row.in_channels == row.out_channels && row.input == row.output;
            same && matches!(
                op,
                Op::Mbconv { stride: 1, .. } | Op::ResBlock { stride: 1, .. } | Op::NatsCell { .. }
            )
        })
        .collect();
    let mut keep = vec![true; repeated.len()];
    let mut i = 0;
    while i < repeated.len() {
        if !repeated[i] {
            i += 1;
            continue;
        }
        let end = (i..repeated.len())
            .find(|&j| !repeated[j])
            .unwrap_or(repeated.len());
        let n = end - i;
        let kept = ((depth * (n + 1) as f64 - 1e-9).ceil() as usize).clamp(1, n + 1) - 1;
        for k in keep.iter_mut().take(end).skip(i + kept) {
            *k = false;
        }
        i = end;
    }
    let mut net = network.clone();
    net.layers = network
        .layers
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(op, _)| op.clone())
        .collect();
    net.layer_costs()?;
    Ok(net)
}
