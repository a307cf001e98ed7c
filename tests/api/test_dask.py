"""Fitting on Dask: groups per partition on the workers, gathered into the same FitResult."""
import numpy as np
import pytest

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

from lawfit.api import fit  # noqa: E402


def runs(n_families=7):
    rng = np.random.default_rng(1)
    rows = []
    for fam in range(n_families):
        for N in [5e7, 1e8, 2e8, 4e8]:
            D = np.geomspace(1e9, 80 * N, 8)
            L = (1.69 + 0.05 * fam + 406.4 * N**-0.34 + 410.7 * D**-0.28) * (1 + 0.004 * rng.standard_normal(D.size))
            rows.append(pd.DataFrame({"family": f"f{fam}", "run": f"{fam}-{N:g}", "N": N, "D": D, "loss": L}))
    # Shuffled, so partitions hold pieces of several groups until lawfit shuffles them by group.
    return pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=0)


@pytest.fixture(scope="module")
def data():
    return runs()


@pytest.fixture(scope="module")
def reference(data):
    return fit(data, "chinchilla", y="loss", by="family", progress=False)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def same(a, b):
    pd.testing.assert_frame_equal(a.params, b.params)
    pd.testing.assert_frame_equal(a.residuals(), b.residuals())
    pd.testing.assert_frame_equal(a.frontier(C=[1e21]), b.frontier(C=[1e21]))


def test_dask_dataframe_equals_in_process(data, reference):
    ddf = dd.from_pandas(data, npartitions=3)
    res = fit(ddf, "chinchilla", y="loss", by="family", progress=False)
    assert res.settings["dask_partitions"] == 3
    same(res, reference)


def test_local_cluster_with_two_workers_equals_in_process(data, reference, client):
    ddf = dd.from_pandas(data, npartitions=4)
    same(fit(ddf, "chinchilla", y="loss", by="family", scheduler=client, progress=False), reference)
    # A pandas table with scheduler=: groups dealt into chunks, one task each.
    same(fit(data, "chinchilla", y="loss", by="family", scheduler=client, progress=False), reference)


def test_bootstrap_on_the_cluster(data, client):
    """Resamples are keyed by a hash of each group's label, not by its place in a
    partition's batch: the cluster draws the same resamples as the in-process fit."""
    ddf = dd.from_pandas(data, npartitions=3)
    res = fit(ddf, "chinchilla", y="loss", by="family", scheduler=client, bootstrap=60, progress=False)
    ref = fit(data, "chinchilla", y="loss", by="family", bootstrap=60, progress=False)
    p, q = res.params, ref.params
    np.testing.assert_array_equal(p["E"], q["E"])
    assert (p["n_resamples"] == 60).all() and (p["E_low"] < p["E"]).all() and (p["E"] < p["E_high"]).all()
    for col in ("E_low", "E_high", "alpha_low", "alpha_high", "beta_stderr"):
        np.testing.assert_array_equal(p[col], q[col])
    assert res.predict(N=[1e9], D=[2e10])["low"].notna().all()


def test_shared_parameters_cannot_be_split(data):
    with pytest.raises(ValueError, match="cannot be split"):
        fit(dd.from_pandas(data, npartitions=2), "chinchilla", y="loss", by="family", shared=["alpha"],
            progress=False)
