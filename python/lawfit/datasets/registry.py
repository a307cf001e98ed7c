"""The released collections lawfit can load, by folder name."""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

from ._common import ENV_VAR, PathLike


class DatasetInfo(NamedTuple):
    """One collection: its folder (= registry key), loader, files and source."""

    name: str
    loader: str
    files: Tuple[str, ...]
    paper: str
    description: str


def _info(name, files, paper, description):
    return DatasetInfo(name, f"load_{name}", tuple(files), paper, description)


#: Registry of the released collections, keyed by folder name.
DATASETS: Dict[str, DatasetInfo] = {d.name: d for d in (
    _info("epoch_chinchilla", ["svg_extracted_data.csv", "chinchilla_epoch_tidy.csv"],
          "Besiroglu et al. 2024, arXiv:2404.10102",
          "245 Chinchilla final losses (N, D, C, loss), 240 in the replication"),
    _info("hitchhiker_colpret", ["colpret_long_losscols.parquet"],
          "Choshen et al. 2024, arXiv:2410.11840",
          "ColPret: 386 runs x checkpoints x metrics, long form"),
    _info("gadre_overtraining", ["runs_losses.csv", "downstream_long.csv"],
          "Gadre et al. 2024, arXiv:2403.08540",
          "104 open_lm runs, M = D/N from 5 to 640; losses and 46 downstream tasks"),
    _info("porian_compute_optimal",
          ["isoflop_points.csv", "optimal_pairs.csv", "published_fit_results.csv"],
          "Porian et al. 2024, arXiv:2406.19146",
          "IsoFLOP points of 15 configurations, optima and published fits"),
    _info("pythia_evals", ["pythia_v1_evals_core.csv", "pythia_v1_evals_long.parquet"],
          "Biderman et al. 2023, arXiv:2304.01373",
          "Pythia downstream evaluations at many checkpoints"),
    _info("openathena_isoflops",
          ["isoflops_transform_annotated.csv", "isoflops_combined.csv"],
          "Open-Athena scaling-law-analysis",
          "947 IsoFLOP points from Chinchilla, Llama 3, Marin, Misfitting"),
    _info("steplaw_li2025", ["dense_lr_bs_loss.csv", "moe_lr_bs_loss.csv",
                             "1004_fitted_lr_bs_scaling_model_parameters.csv"],
          "Li et al. 2025, arXiv:2503.04715",
          "Step Law learning-rate x batch-size sweeps, dense and MoE"),
    _info("misfitting_li2025", ["scaling_results.csv", "scaling_results_last_ckpt_only.csv"],
          "Li, Kudugunta, Zettlemoyer 2025, arXiv:2502.18969",
          "open_lm sweeps, 11 sizes, 4,852 checkpoints"),
    _info("obsscaling_ruan2024", ["base_llm_benchmark_eval.csv"],
          "Ruan, Maddison, Hashimoto 2024, arXiv:2405.10938",
          "benchmark scores of ~100 public LLMs from 47 families"),
    _info("laion_clip_mammut", ["segmentation_results.parquet", "model_profile.csv"],
          "Nezhurina et al. 2025, arXiv:2506.04598",
          "1,431 CLIP/MaMMUT runs, ADE20K and ImageNet zero-shot"),
    _info("olmo_ladder_bhagia2024", ["ladder_runs.parquet", "target_runs.parquet"],
          "Bhagia et al. 2024, arXiv:2412.04403",
          "OLMo model ladder: 5 sizes x 5 token budgets with intermediate evaluations; 7B/13B targets"),
    _info("humanlike_vits_orhan2023", ["runs_summary.csv", "finetune_curves.csv", "pretrain_curves.csv"],
          "Orhan 2023, arXiv:2308.03712",
          "78 ViTs on human-like video: model size x hours of video x image resolution"),
)}


def list_datasets(available: bool = False, root: Optional[PathLike] = None) -> List[str]:
    """Names of the collections lawfit has a loader for.

    Parameters
    ----------
    available : bool, default False
        Only those whose folder exists under ``root``.
    root : str or os.PathLike, optional
        The directory holding the dataset folders; default ``$LAWFIT_DATA``
        (with ``available=True`` and no root set, nothing is available).

    Examples
    --------
    >>> from lawfit.datasets import list_datasets
    >>> list_datasets()[:2]
    ['epoch_chinchilla', 'hitchhiker_colpret']
    """
    names = list(DATASETS)
    if not available:
        return names
    import os
    from pathlib import Path

    base = root if root is not None else os.environ.get(ENV_VAR)
    if not base:
        return []
    base = Path(base).expanduser()
    return [n for n in names if (base / n).is_dir()]


def load_dataset(name: str, path: Optional[PathLike] = None, **kwargs):
    """Call the loader of collection ``name`` (``load_<name>(path, **kwargs)``).

    Examples
    --------
    >>> from lawfit.datasets import load_dataset
    >>> df = load_dataset("epoch_chinchilla", replication=True)   # doctest: +SKIP
    """
    if name not in DATASETS:
        import difflib

        close = [n for n in DATASETS if str(name).lower() in n]  # "hitchhiker" -> "hitchhiker_colpret"
        close += [n for n in difflib.get_close_matches(str(name), list(DATASETS), n=3) if n not in close]
        hint = f"did you mean {', '.join(repr(n) for n in close[:3])}? " if close else ""
        raise ValueError(f"unknown dataset {name!r}; {hint}choose one of {list(DATASETS)}")
    from importlib import import_module

    package = import_module(__package__)  # the loaders live in lawfit.datasets
    return getattr(package, DATASETS[name].loader)(path, **kwargs)
