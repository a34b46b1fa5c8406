"""Optuna's default TPESampler on the NAS-Bench-201 table under FLOPs caps: the reference
numbers of issue 14, part 5. Not used by CI or the bench.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install optuna
    /tmp/venv/bin/python crates/layernas-bench/scripts/tpe_caps.py [SEEDS]   # from the repo root

Caps at lo + p (hi - lo) of each data set's FLOPs range, p = 0.25, 0.5, 1, with 144, 190 and 225
counted trials. A suggestion over the cap is told to Optuna as FAIL and not counted; a repeated
suggestion is counted (TPE may propose a model twice). The answer is the best validation
accuracy among the counted trials; printed: mean ± std over seeds of its test accuracy.
Validation columns nats_cifar10_valid, cifar100_valid, imagenet16_valid; test nats_*_test.
"""
import csv, gzip, sys
import numpy as np
import optuna
from optuna.trial import TrialState
optuna.logging.set_verbosity(optuna.logging.WARNING)
rows = list(csv.DictReader(gzip.open('data/nasbench201/tss.csv.gz', 'rt')))
OPS = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3']
by_arch = {r['arch']: r for r in rows}
def arch(ops):
    e = ops
    return f"|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"
assert arch(['nor_conv_3x3'] * 6) in by_arch
DS = [('cifar10', 'nats_cifar10_valid'), ('cifar100', 'cifar100_valid'), ('imagenet16', 'imagenet16_valid')]
seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
for ds, vcol in DS:
    fl = np.array([float(r[f'flops_m_{ds}']) for r in rows])
    lo, hi = fl.min(), fl.max()
    out = []
    for p, budget in [(0.25, 144), (0.5, 190), (1.0, 225)]:
        cap = lo + p * (hi - lo)
        tests, draws = [], []
        for seed in range(seeds):
            study = optuna.create_study(direction='maximize', sampler=optuna.samplers.TPESampler(seed=seed))
            done, best, n = 0, None, 0
            while done < budget and n < 100000:
                n += 1
                t = study.ask()
                ops = [t.suggest_categorical(f'e{i}', OPS) for i in range(6)]
                r = by_arch[arch(ops)]
                if float(r[f'flops_m_{ds}']) > cap:
                    study.tell(t, state=TrialState.FAIL)
                    continue
                v = float(r[vcol])
                study.tell(t, v)
                done += 1
                if best is None or v > best[0]:
                    best = (v, float(r[f'nats_{ds}_test']))
            tests.append(best[1]); draws.append(n)
        out.append(f"{p:.0%} cap {cap:.2f}: {np.mean(tests):.2f}±{np.std(tests, ddof=1):.2f} (asks {np.mean(draws):.0f})")
        print(ds, out[-1], flush=True)
