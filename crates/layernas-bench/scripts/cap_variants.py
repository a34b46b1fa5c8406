"""Single-cap LayerNAS variants on the NAS-Bench-201 table: the prototype behind `cap_focus`
(README, "Single-cap search"). Not used by CI or the bench.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/python crates/layernas-bench/scripts/cap_variants.py   # from the repo root

A re-implementation of LayerNAS (H=100, K=1, linear buckets, full expansion) that reproduces the
Rust search's answers and trial counts at a cap (issue 14's plain numbers: 93.54 / 93.90 / 94.37,
71.03 / 72.24 / 73.51, 45.95 / 45.95 / 46.59), with the columns of tpe_caps.py. Each variant
changes only how a layer's kept candidates are chosen; printed per variant, over caps at 5%,
10%, ..., 95% of each data set's FLOPs and params range (114 caps): answers higher / lower than
the plain search's by validation and by test accuracy, and caps where it used more trials.
"""
import csv, gzip
import numpy as np

OPS = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3']
ROWS = list(csv.DictReader(gzip.open('data/nasbench201/tss.csv.gz', 'rt')))
VALID = {'cifar10': 'nats_cifar10_valid', 'cifar100': 'cifar100_valid', 'imagenet16': 'imagenet16_valid'}
N, L, DEFAULT = 15625, 6, 3

def code(ops):
    c = 0
    for o in ops:
        c = c * 5 + o
    return c

def parse(arch):
    return [OPS.index(e.split('~')[0]) for p in arch.split('+') for e in p.strip('|').split('|')]

DIG = np.array([[(c // 5 ** (L - 1 - i)) % 5 for i in range(L)] for c in range(N)])
CODES = [code(parse(r['arch'])) for r in ROWS]

def column(name):
    v = np.zeros(N)
    for c, r in zip(CODES, ROWS):
        v[c] = float(r[name])
    return v

_REACH = {}

def reach_min(cost, prefix):
    """The cheapest completion of `prefix` (layers after it free)."""
    k = (id(cost), tuple(prefix))
    if k not in _REACH:
        _REACH[k] = cost[np.all(DIG[:, :len(prefix)] == np.array(prefix), axis=1)].min()
    return _REACH[k]

def window(cost, l, cap):
    s = cost[np.all(DIG[:, l + 1:] == DEFAULT, axis=1)]
    return (s.min(), min(s.max(), cap) if l == L - 1 else s.max())

def bucket(w, h, c):
    span = w[1] - w[0]
    if not span > 0:
        return 0
    return min(max(int(np.floor((c - w[0]) / span * h)), 0), h - 1)

def key(cand):  # better first: reward, then cost, then first observation
    return (-cand[2], cand[1], cand[3])

def plain(tables, l, n_layers):
    return [(b, sorted(tables[b], key=key)[0]) for b in sorted(tables)]

def focus(f, layers):
    """Cap focus: at `layers` (counted back from the last, 1 = second-to-last), as many
    candidates as one per bucket, up to f per bucket from the most costly bucket down."""
    def select(tables, l, n_layers):
        kept = plain(tables, l, n_layers)
        if n_layers - 1 - l not in layers:
            return kept
        out = []
        for b in sorted(tables, reverse=True):
            for c in sorted(tables[b], key=key)[:f]:
                if len(out) < len(kept):
                    out.append((b, c))
        return sorted(out, key=lambda bc: bc[0])
    return select

def search(cost, valid, cap, select, h=100):
    seen = {}
    m0 = code([DEFAULT] * L)
    seen[m0] = 0
    kept = [(m0, cost[m0], valid[m0], 0)]
    final = []
    for l in range(L):
        w = window(cost, l, cap)
        children, formed = [], set()
        for p in kept:
            for o in range(5):
                ops = list(DIG[p[0]])
                ops[l] = o
                c = code(ops)
                if c in formed:
                    continue
                formed.add(c)
                if reach_min(cost, ops[:l + 1]) <= cap:
                    children.append(c)
        offered = [c for c in children if c in seen]
        for c in children:
            if c not in seen:
                seen[c] = len(seen)
                offered.append(c)
        tables = {}
        for c in offered:
            tables.setdefault(bucket(w, h, cost[c]), []).append((c, cost[c], valid[c], seen[c]))
        final = select(tables, l, L)
        kept = [c for _, c in final]
    answer = min((c for _, c in final if c[1] <= cap), key=key)[0]
    return answer, len(seen), list(seen)

def front_under_cap(cost, valid, test, cap, evaluated):
    """Mean regret over 10 targets evenly spread over (cheapest, cap] (the best evaluated model
    by validation under each target against the table's), and targets with no model at all."""
    regrets, missing = [], 0
    for i in range(1, 11):
        target = cost.min() + (cap - cost.min()) * i / 10
        best = max(np.where(cost <= target)[0], key=lambda c: valid[c])
        found = [c for c in evaluated if cost[c] <= target]
        if not found:
            missing += 1
            continue
        regrets.append(test[best] - test[max(found, key=lambda c: valid[c])])
    return np.mean(regrets), missing

VARIANTS = {
    'cap focus F=2 (second-to-last layer)': focus(2, {1}),
    'F=2 at the two layers before the last': focus(2, {1, 2}),
    'F=2 at the three layers before the last': focus(2, {1, 2, 3}),
    'cap focus F=3': focus(3, {1}),
}

def main():
    results = {name: [] for name in ['plain'] + list(VARIANTS)}
    issue, fronts = [], []
    for ds in ['cifar10', 'cifar100', 'imagenet16']:
        valid, test = column(VALID[ds]), column(f'nats_{ds}_test')
        for cost_name in ['flops', 'params']:
            cost = column(f'{cost_name}_m_{ds}')
            lo, hi = cost.min(), cost.max()
            fractions = [i / 20 for i in range(1, 20)]
            for fraction in fractions + ([1.0] if cost_name == 'flops' else []):
                cap = lo + fraction * (hi - lo)
                a, t, _ = search(cost, valid, cap, plain)
                row = {'plain': (valid[a], test[a], t)}
                for name, sel in VARIANTS.items():
                    b, u, _ = search(cost, valid, cap, sel)
                    row[name] = (valid[b], test[b], u)
                if cost_name == 'flops' and fraction in (0.25, 0.5, 0.75):
                    fronts.append((ds, fraction, [front_under_cap(cost, valid, test, cap, search(cost, valid, cap, sel)[2])
                                                  for sel in (plain, VARIANTS['cap focus F=2 (second-to-last layer)'])]))
                if cost_name == 'flops' and fraction in (0.25, 0.5, 1.0):
                    issue.append((ds, fraction, row))
                if fraction < 1.0:
                    for name in results:
                        results[name].append((row[name], row['plain']))
    print('issue 14 caps (test accuracy, trials): plain | cap focus F=2')
    for ds, fraction, row in issue:
        p, f = row['plain'], row['cap focus F=2 (second-to-last layer)']
        print(f'  {ds} {fraction:.0%}: {p[1]:.2f} ({p[2]}) | {f[1]:.2f} ({f[2]})')
    print('front under the cap (mean regret over 10 targets up to the cap; targets without a model): plain | cap focus F=2')
    for ds, fraction, ((rp, mp), (rf, mf)) in fronts:
        print(f'  {ds} {fraction:.0%}: {rp:.3f} ({mp}) | {rf:.3f} ({mf})')
    for name, pairs in results.items():
        if name == 'plain':
            continue
        vh = sum(v[0] > p[0] for v, p in pairs); vl = sum(v[0] < p[0] for v, p in pairs)
        th = sum(v[1] > p[1] for v, p in pairs); tl = sum(v[1] < p[1] for v, p in pairs)
        more = sum(v[2] > p[2] for v, p in pairs)
        print(f'{name}: {len(pairs)} caps, validation +{vh} / -{vl}, test +{th} / -{tl}, more trials at {more}')

if __name__ == '__main__':
    main()
