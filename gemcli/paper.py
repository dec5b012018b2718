"""The paper's Table 1 (embedding size 256, test set), re-typed from the paper (GEM, Table 1)."""

# model label -> dataset -> (MAE, RMSE, #params)
TABLE1: dict[str, dict[str, tuple[float, float, float]]] = {
    "FM": {"frappe": (0.1445, 0.3143, 1.383e6), "movielens": (0.2425, 0.4431, 23.24e6)},
    "GEM+FM": {"frappe": (0.1188, 0.3027, 1.383e6), "movielens": (0.2243, 0.4307, 23.24e6)},
    "AFM": {"frappe": (0.1459, 0.3131, 1.449e6), "movielens": (0.2656, 0.4506, 23.26e6)},
    "GEM+AFM": {"frappe": (0.1179, 0.3017, 1.449e6), "movielens": (0.2350, 0.4345, 23.26e6)},
    "Wide&Deep": {"frappe": (0.0678, 0.2981, 4.662e6), "movielens": (0.1297, 0.4212, 24.69e6)},
    "GEM+Wide&Deep": {"frappe": (0.0611, 0.3079, 4.662e6), "movielens": (0.1108, 0.4260, 24.69e6)},
    "DeepFM": {"frappe": (0.0626, 0.2969, 1.975e6), "movielens": (0.1296, 0.4328, 23.47e6)},
    "GEM+DeepFM": {"frappe": (0.0602, 0.2951, 1.975e6), "movielens": (0.1106, 0.4231, 23.47e6)},
    "NFM": {"frappe": (0.0733, 0.2921, 1.399e6), "movielens": (0.1511, 0.4285, 23.31e6)},
    "GEM+NFM": {"frappe": (0.0710, 0.2918, 1.399e6), "movielens": (0.1680, 0.4200, 23.31e6)},
    "INN": {"frappe": (0.0701, 0.2971, 1.457e6), "movielens": (0.1745, 0.4096, 23.25e6)},
    "GEM+INN": {"frappe": (0.0609, 0.2976, 1.457e6), "movielens": (0.1397, 0.4015, 23.25e6)},
    "IFM": {"frappe": (0.0565, 0.2905, 2.109e6), "movielens": (0.1561, 0.4252, 23.80e6)},
    "GEM+IFM": {"frappe": (0.0557, 0.2890, 2.109e6), "movielens": (0.1411, 0.4156, 23.80e6)},
}
# BARS (reczoo/BARS, ranking/ctr/<MODEL>/<MODEL>_frappe_x1/README.md): test AUC and logloss on Frappe_x1
# (7:2:1 split, 2 negatives per positive, embedding size 10, FuxiCTR). DeepFM and Wide&Deep: the mean of the
# 5 runs their READMEs list; FM, AFM, NFM and FinalMLP: the figures those READMEs give.
BARS_FRAPPE_X1: dict[str, tuple[float, float]] = {
    "FM": (0.9671, 0.2065),
    "AFM": (0.9697, 0.2264),
    "NFM": (0.9804, 0.2058),
    "DeepFM": (0.9839, 0.1495),
    "Wide&Deep": (0.9831, 0.1540),
    "FinalMLP": (0.9861, 0.1484),
}
BASES = ["fm", "afm", "wide_deep", "deepfm", "nfm", "inn", "ifm"]
NAMES = {
    "fm": "FM",
    "afm": "AFM",
    "wide_deep": "Wide&Deep",
    "deepfm": "DeepFM",
    "nfm": "NFM",
    "inn": "INN",
    "ifm": "IFM",
}


def model_label(base: str, embedder: str | bool) -> str:
    """The paper's name of a model: FM (lookup), GEM+DeepFM (gcn), GEM[sage]+FM (another embedder)."""
    if isinstance(embedder, bool):
        embedder = "gcn" if embedder else "lookup"
    name = NAMES.get(base, base.upper())
    return name if embedder == "lookup" else "GEM+" + name if embedder == "gcn" else f"GEM[{embedder}]+{name}"
