"""The synthetic market's script: regimes and their parameters, the historical episodes
forced onto the chains, the yield paths and the factor loadings (used by ``factors``).

Episodes make the synthetic history rhyme with the real one (2008, the 2020 crash, the
2022 bear market, ...); between them the chains run free.
"""

from __future__ import annotations

from typing import Final

import numpy as np

# --- market regimes -----------------------------------------------------------------------
BULL, CHOP, BEAR, CRASH, RECOVERY = range(5)
REGIME_MU: Final = np.array([0.00085, 0.0002, -0.0010, -0.0075, 0.0035])
REGIME_VOL: Final = np.array([0.0075, 0.0115, 0.0155, 0.033, 0.018])
REGIME_VIX: Final = np.array([13.5, 18.0, 24.0, 42.0, 24.0])
REGIME_P: Final = np.array(
    [
        [0.988, 0.009, 0.002, 0.001, 0.000],
        [0.020, 0.965, 0.010, 0.004, 0.001],
        [0.005, 0.020, 0.965, 0.006, 0.004],
        [0.000, 0.020, 0.030, 0.880, 0.070],
        [0.030, 0.020, 0.000, 0.005, 0.945],
    ]
)
GARCH_A: Final = 0.07
GARCH_B: Final = 0.90

MARKET_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2000-09-01", "2001-09-10", BEAR),
    ("2001-09-17", "2001-09-21", CRASH),
    ("2001-09-24", "2001-11-30", RECOVERY),
    ("2002-04-01", "2002-07-23", BEAR),
    ("2002-07-24", "2002-08-22", RECOVERY),
    ("2002-08-23", "2002-10-09", BEAR),
    ("2003-03-12", "2003-06-30", RECOVERY),
    ("2007-10-10", "2008-09-12", BEAR),
    ("2008-09-15", "2008-11-20", CRASH),
    ("2008-11-21", "2009-03-09", BEAR),
    ("2009-03-10", "2009-06-12", RECOVERY),
    ("2010-05-06", "2010-05-07", CRASH),
    ("2011-08-01", "2011-08-10", CRASH),
    ("2015-08-20", "2015-08-25", CRASH),
    ("2018-01-29", "2018-02-08", CRASH),
    ("2018-10-03", "2018-12-24", BEAR),
    ("2018-12-26", "2019-02-28", RECOVERY),
    ("2020-02-20", "2020-03-23", CRASH),
    ("2020-03-24", "2020-06-08", RECOVERY),
    ("2022-01-04", "2022-06-16", BEAR),
    ("2022-06-17", "2022-08-16", RECOVERY),
    ("2022-08-17", "2022-10-12", BEAR),
    ("2023-10-30", "2023-12-29", RECOVERY),
    ("2025-02-20", "2025-04-01", BEAR),
    ("2025-04-02", "2025-04-08", CRASH),
    ("2025-04-09", "2025-05-15", RECOVERY),
)

# --- rates regimes (1 = inflationary: yields drift up, stocks and bonds fall together) ----
RATE_P_STAY: Final = (0.997, 0.995)
RATE_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2000-01-03", "2000-05-31", 1),
    ("2000-06-01", "2003-06-13", 0),
    ("2004-06-01", "2006-06-30", 1),
    ("2008-09-01", "2012-12-31", 0),
    ("2013-05-01", "2013-12-31", 1),
    ("2019-01-02", "2020-12-31", 0),
    ("2021-03-01", "2023-10-31", 1),
    ("2024-09-16", "2025-01-14", 1),
)

#: Mid-year anchors (year, decimal) the 10-year yield mean-reverts to (held flat after).
YIELD_PATH: Final[tuple[tuple[int, float], ...]] = (
    (2000, 0.060), (2001, 0.050), (2002, 0.046), (2003, 0.040), (2004, 0.043),
    (2005, 0.043), (2006, 0.048), (2007, 0.046), (2008, 0.037), (2009, 0.033),
    (2010, 0.032), (2011, 0.028), (2012, 0.018), (2013, 0.024), (2014, 0.025),
    (2015, 0.021), (2016, 0.018), (2017, 0.023), (2018, 0.029), (2019, 0.021),
    (2020, 0.009), (2021, 0.014), (2022, 0.030), (2023, 0.040), (2024, 0.042),
    (2025, 0.043), (2026, 0.042),
)  # fmt: skip
#: Mid-year short rate (cash yield); deterministic, so cash-like funds barely move.
SHORT_RATE_PATH: Final[tuple[tuple[int, float], ...]] = (
    (2000, 0.062), (2001, 0.039), (2002, 0.017), (2003, 0.011), (2004, 0.014),
    (2005, 0.032), (2006, 0.050), (2007, 0.050), (2008, 0.019), (2009, 0.0015),
    (2015, 0.0015), (2016, 0.004), (2017, 0.010), (2018, 0.018), (2019, 0.022),
    (2020, 0.004), (2021, 0.0008), (2022, 0.017), (2023, 0.050), (2024, 0.051),
    (2025, 0.043), (2026, 0.038),
)  # fmt: skip
YIELD_KAPPA: Final = 0.01

# --- crypto regimes (0 bull, 1 bear) ------------------------------------------------------
CRYPTO_P_STAY: Final = (0.993, 0.993)
CRYPTO_MU: Final = np.array([0.0040, -0.0030])
CRYPTO_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2018-01-08", "2018-12-14", 1),
    ("2019-04-01", "2019-06-26", 0),
    ("2020-10-08", "2021-04-13", 0),
    ("2021-11-10", "2022-11-21", 1),
    ("2023-10-16", "2024-03-13", 0),
    ("2024-11-05", "2024-12-17", 0),
)

#: Derived factors: name -> (market beta, own daily vol, extra loadings on earlier factors).
#: Defined in dependency order.
DERIVED: Final[dict[str, tuple[float, float, tuple[tuple[str, float], ...]]]] = {
    "nasdaq": (1.15, 0.0045, ()),
    "tech": (0.1, 0.003, (("nasdaq", 0.95),)),
    "semis": (0.2, 0.011, (("nasdaq", 1.15),)),
    "fang": (0.0, 0.007, (("nasdaq", 1.2),)),
    "growth": (0.3, 0.002, (("nasdaq", 0.65),)),
    "value": (0.88, 0.003, ()),
    "dow": (0.95, 0.003, ()),
    "smallcap": (1.15, 0.0065, ()),
    "midcap": (0.5, 0.003, (("smallcap", 0.5),)),
    "financials": (1.1, 0.007, (("duration", -2.0),)),
    "energy": (0.75, 0.009, (("oil", 0.4),)),
    "energy_ep": (0.0, 0.008, (("energy", 1.2), ("oil", 0.35))),
    "gas_producers": (0.6, 0.012, (("natgas", 0.3),)),
    "healthcare": (0.75, 0.006, ()),
    "biotech": (1.05, 0.013, ()),
    "staples": (0.55, 0.005, ()),
    "utilities": (0.5, 0.008, (("duration", 3.0),)),
    "realestate": (0.85, 0.009, (("duration", 4.0),)),
    "industrials": (1.05, 0.005, ()),
    "materials": (1.0, 0.007, (("base_metals", 0.2),)),
    "discretionary": (1.15, 0.006, ()),
    "comms": (1.0, 0.007, ()),
    "homebuilders": (1.3, 0.014, (("duration", 4.0),)),
    "retail": (1.2, 0.011, ()),
    "defense": (0.8, 0.008, ()),
    "clean_energy": (1.3, 0.018, (("duration", 3.0),)),
    "nuclear": (1.1, 0.018, ()),
    "high_beta": (1.6, 0.007, ()),
    "low_vol": (0.65, 0.003, ()),
    "intl_dev": (0.85, 0.006, (("usd", -0.6),)),
    "europe": (0.0, 0.004, (("intl_dev", 1.1),)),
    "em": (0.85, 0.008, (("usd", -0.8),)),
    "china": (0.0, 0.014, (("em", 0.9),)),
    "india": (0.5, 0.009, (("em", 0.3),)),
    "brazil": (0.0, 0.014, (("em", 1.1), ("oil", 0.15))),
    "antibeta": (-0.55, 0.005, ()),
    "gold_miners": (0.45, 0.012, (("gold", 2.0),)),
    "crypto_equity": (0.9, 0.01, (("crypto", 0.6),)),
    "spec_growth": (1.5, 0.013, (("nasdaq", 0.4),)),
}
#: Factors with occasional large jumps (policy surprises): name -> (jump vol, jump mean).
JUMPY: Final[dict[str, tuple[float, float]]] = {"china": (0.05, 0.01), "oil": (0.06, 0.0)}

#: Trend follower's markets: (factor, nominal daily vol); the bond leg is a 7.5y duration.
TREND_ASSETS: Final[tuple[tuple[str, float], ...]] = (
    ("market", 0.011),
    ("bond10", 0.0045),
    ("gold", 0.009),
    ("oil", 0.022),
    ("usd", 0.0045),
    ("commodities", 0.011),
)
TREND_LOOKBACK: Final = 63
TREND_SCALE: Final = 0.0136
TREND_DRIFT: Final = 0.0001
