use layernas_core::{Arch, Layer, SearchSpace, SpaceError};

/// The five NAS-Bench-201 operations, in option-index order.
pub const NB201_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// Default op of every edge: the most costly one.
const DEFAULT_OP: usize = 3;

/// (target node, source node) of the 6 edges, in arch-string order.
const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// The NAS-Bench-201 / NATS-Bench topology search space: a cell of 4 nodes whose 6 edges each
/// take one of 5 operations (15,625 cells). Layers are the edges in arch-string order
/// (`node1<-0`, `node2<-0`, `node2<-1`, `node3<-0`, `node3<-1`, `node3<-2`); the default op is
/// `nor_conv_3x3`. Architectures are written as the standard arch strings.
#[derive(Debug, Clone)]
pub struct Nb201Space {
    layers: Vec<Layer>,
}

impl Default for Nb201Space {
    fn default() -> Self {
        Self::new()
    }
}

impl Nb201Space {
    /// The space.
    pub fn new() -> Self {
        let layers = EDGES
            .iter()
            .map(|(to, from)| Layer::new(format!("node{to}<-{from}"), NB201_OPS, DEFAULT_OP))
            .collect();
        Nb201Space { layers }
    }

    /// A dense code in `0..15625`: the option indices read as a base-5 number, first edge most
    /// significant. (This is not the benchmark's `index`, which follows its own order.)
    pub fn code(arch: &Arch) -> usize {
        arch.options()
            .iter()
            .fold(0usize, |code, &o| code * NB201_OPS.len() + o as usize)
    }

    /// The architecture of a [`code`](Nb201Space::code).
    pub fn from_code(mut code: usize) -> Arch {
        let mut options = vec![0u16; EDGES.len()];
        for slot in options.iter_mut().rev() {
            *slot = (code % NB201_OPS.len()) as u16;
            code /= NB201_OPS.len();
        }
        Arch::new(options)
    }
}

impl SearchSpace for Nb201Space {
    fn name(&self) -> &str {
        "nb201"
    }

    fn layers(&self) -> &[Layer] {
        &self.layers
    }

    fn format(&self, arch: &Arch) -> String {
        let mut out = String::from("|");
        for (i, ((_, from), &op)) in EDGES.iter().zip(arch.options()).enumerate() {
            if i > 0 && *from == 0 {
                out.push_str("+|");
            }
            out.push_str(NB201_OPS[op as usize]);
            out.push('~');
            out.push_str(&from.to_string());
            out.push('|');
        }
        out
    }

    fn parse(&self, text: &str) -> Result<Arch, SpaceError> {
        let fail = |reason: String| SpaceError::Parse {
            space: "nb201".into(),
            text: text.to_string(),
            reason,
        };
        let nodes: Vec<&str> = text.trim().split('+').collect();
        if nodes.len() != 3 {
            return Err(fail(format!(
                "expected 3 nodes separated by '+' (like |nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|), got {}",
                nodes.len()
            )));
        }
        let mut options = Vec::with_capacity(EDGES.len());
        for (n, node) in nodes.iter().enumerate() {
            let inner = node
                .strip_prefix('|')
                .and_then(|s| s.strip_suffix('|'))
                .ok_or_else(|| fail(format!("node {} must be written |op~i|...|", n + 1)))?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != n + 1 {
                return Err(fail(format!(
                    "node {} needs {} inputs, got {}",
                    n + 1,
                    n + 1,
                    edges.len()
                )));
            }
            for (from, edge) in edges.iter().enumerate() {
                let (op, source) = edge
                    .split_once('~')
                    .ok_or_else(|| fail(format!("edge {edge:?} must be op~input")))?;
                if source != from.to_string() {
                    return Err(fail(format!(
                        "edge {edge:?} of node {} must take input {from}",
                        n + 1
                    )));
                }
                let index = NB201_OPS.iter().position(|o| *o == op).ok_or_else(|| {
                    fail(format!(
                        "unknown op {op:?} (allowed: {})",
                        NB201_OPS.join(", ")
                    ))
                })?;
                options.push(index as u16);
            }
        }
        Ok(Arch::new(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_round_trips_through_its_arch_string() {
        let space = Nb201Space::new();
        let mut seen = std::collections::HashSet::new();
        for code in 0..15_625 {
            let arch = Nb201Space::from_code(code);
            assert_eq!(Nb201Space::code(&arch), code);
            let text = space.format(&arch);
            assert!(seen.insert(text.clone()), "duplicate string {text}");
            assert_eq!(space.parse(&text).unwrap(), arch, "{text}");
        }
        assert_eq!(seen.len(), 15_625);
    }

    #[test]
    fn formats_the_resnet_cell() {
        let space = Nb201Space::new();
        let arch = Arch::new(vec![3, 0, 3, 1, 0, 1]);
        assert_eq!(
            space.format(&arch),
            "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
        );
        assert_eq!(space.default_arch().options(), &[3; 6]);
    }

    #[test]
    fn malformed_strings_are_refused_with_a_reason() {
        let space = Nb201Space::new();
        for (text, needle) in [
            ("", "expected 3 nodes"),
            (
                "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "unknown op \"conv\"",
            ),
            (
                "|none~0|+|none~0|+|none~0|none~1|none~2|",
                "node 2 needs 2 inputs",
            ),
            (
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must take input 0",
            ),
            (
                "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must be written",
            ),
        ] {
            let err = space.parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
