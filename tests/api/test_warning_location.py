"""Every warning lawfit raises points at the user's line, not at lawfit's own code.

A warning's location is what Python prints before the message and what
``warnings.filterwarnings(module=...)`` matches on.  The same helper (a batch's
failure summary, the sandwich covariance's caveat) is reached from several
entry points at different depths, so a fixed ``stacklevel`` points inside lawfit
from some of them; :func:`lawfit.status.user_stacklevel` walks out of the package.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import lawfit
from lawfit.status import LawfitWarning, user_stacklevel

pd = pytest.importorskip("pandas")

TRUE = dict(E=1.7, A=400.0, alpha=0.34, B=410.0, beta=0.28)
CHINCHILLA = lawfit.laws["chinchilla"]


def _grid(sizes, tokens):
    """Every (N, D) pair of the two lists, with the true law's loss."""
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens, indexing="ij"))
    return pd.DataFrame({"N": N, "D": D, "loss": CHINCHILLA.predict(TRUE, N=N, D=D)})


@pytest.fixture(scope="module")
def table():
    """Two families of Chinchilla data; family "b" has a missing loss (BAD_INPUT)."""
    one = _grid([1e8, 3e8, 1e9, 3e9], np.geomspace(2e9, 6e10, 6))
    df = pd.concat([one.assign(family="a"), one.assign(family="b")], ignore_index=True)
    df.loc[30, "loss"] = np.nan
    return df


def _caught(fn, category=LawfitWarning):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    found = [w for w in caught if issubclass(w.category, category)]
    assert found, "no warning raised"
    return found


def test_batch_failure_warnings_point_at_the_callers_line(table):
    calls = {
        "fit": lambda: lawfit.fit(table, "chinchilla", y="loss", by="family", progress=False),
        "fit bootstrap": lambda: lawfit.fit(table, "chinchilla", y="loss", by="family", bootstrap=8,
                                            progress=False),
        "Law.fit": lambda: lawfit.laws["chinchilla"].fit(table[table.family == "b"][["N", "D"]],
                                                         table.loss[table.family == "b"].to_numpy()),
        "evaluate": lambda: lawfit.evaluate(table.assign(run=table.N), family="family", run="run",
                                            y="loss", progress=False),
    }
    for name, call in calls.items():
        for w in _caught(call):
            assert w.filename == __file__, (name, w.filename, str(w.message))


def test_sandwich_caveat_points_at_the_callers_line():
    """Huber with delta far below the residuals: the covariance's caveat, raised three calls deep."""
    rng = np.random.default_rng(3)
    df = _grid([1e8, 3e8, 1e9, 3e9, 1e10], np.geomspace(2e9, 6e10, 8))
    df["loss"] *= np.exp(rng.normal(0, 0.03, len(df)))
    found = _caught(lambda: lawfit.fit(df, "chinchilla", y="loss", loss="huber", delta=1e-4, progress=False))
    assert any("Huber scale" in str(w.message) for w in found), [str(w.message) for w in found]
    assert all(w.filename == __file__ for w in found), [(w.filename, str(w.message)) for w in found]


def test_curve_fit_covariance_warning_points_at_the_callers_line():
    """scipy's OptimizeWarning when the covariance cannot be estimated (as many points as parameters)."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    x = np.array([1.0, 2.0])
    found = _caught(lambda: lawfit.curve_fit(lambda x, a, b: a * x + b, x, 3.0 * x + 1.0),
                    scipy_optimize.OptimizeWarning)
    assert all(w.filename == __file__ for w in found), [w.filename for w in found]


def test_user_stacklevel_counts_frames_inside_the_package():
    # Called from here (outside the package) the warning belongs to this function's caller: level 1.
    assert user_stacklevel() == 1
