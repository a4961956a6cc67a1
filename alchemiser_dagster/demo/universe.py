"""Behaviour profiles of the symbols the synthetic market generator knows.

A :class:`SymbolProfile` says how a symbol's daily simple return is built::

    r = sum(beta * r[key] for key, beta in loadings) + drift / 252 + idio_vol * noise

where each ``key`` is either a *factor* (lowercase name from :data:`FACTORS`, simulated
by :mod:`~alchemiser_dagster.demo.factors`) or another *symbol* (uppercase),
whose own return is used. A daily-reset leveraged fund is therefore simply
``loadings=(("QQQ", 3.0),)`` with a fee drift and a hair of tracking noise, which makes
TQQQ exactly 3x QQQ every day and lets it decay in chop like the real thing.

The tables below are deliberately compact: leveraged funds map to (underlying, leverage),
1x funds to (factor, beta, idio vol), bond funds to (duration, market beta, spread, idio
vol), and single stocks are grouped by category with a shared factor profile (each stock
gets a stable, name-derived jitter of beta and drift). Any symbol not listed gets a
generic equity profile derived deterministically from its name (:func:`profile_for`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CORPUS_SYMBOLS",
    "FACTORS",
    "SymbolProfile",
    "classified_symbols",
    "generic_profile",
    "profile_for",
    "symbol_unit",
]

CORPUS_SYMBOLS: Final[tuple[str, ...]] = tuple(
    """
    AA AAPL AAPX ABSI ACHR ACLS AEHR AGG AGQ AIRO ALGN AMD AMGN AMZN AMZU AMZZ APLD APP AR
    ARM ARQQ ASML AVGO AVUV AXP BABA BAM BBAI BBH BE BIL BITF BITO BITQ BITS BITX BKT BN BND
    BNDX BOIL BOND BRK/B BSV BTAL BTF BULZ BWX BWXT BX CAT CCJ CEG COIN COM CONL COP CORP
    CORZ COST CRM CRNC CSCO CTA CURE CVE CVX DAC DBA DBB DBC DBE DBMF DBO DFEN DIA DINO DLN
    DOG DRIP DRN DRV DULL DUSL DVAX DXD EDC EDV EDZ EEM EFA EFO EMB ENPH EPI EQT ERX EUO EURL
    EVLV EVN EVTL EWZ EXC EXPO FAAR FAN FAS FAZ FBL FCG FDN FFAI FMF FNGD FNGG FNGS FNGU FTGC
    FTLS FTNT FXI GBIL GBTC GDX GDXD GDXU GE GGLL GLD GLL GLTR GNRC GOOG GOOGL GS GUSH HD
    HIBL HIBS HOOD HYG IBKR IBM ICLN IEF IEI IGIB INFY IONQ IOO IREN ISCB ITA IWM IYR JDST
    JKHY JNJ JOBY JPM JYNT KKR KMLM KOLD KTOS LABD LABU LAES LEU LIN LLY LQD LTL LULU MA MARA
    MCD META MHD MIDU MMT MNST MOS MPC MRVL MSFT MSTR MU MVV NAIL NFLX NLR NLSP NNE NRGD NRGU
    NVDA NVDL NVDS NVO OILD OILK OKLO ONDS ORCL OSS OXY PAYC PCH PDBC PGR PILL PIM PLTR PLUG
    PMM PSQ PUI QBTS QCOM QID QLD QMCO QQQ QQQE QS QSI QUBT RCAT RETL RGTI RIOT RKLB ROM ROST
    RWM RXRX RZLV SAA SCHW SCHZ SDOW SERV SES SFM SH SHNY SHV SHY SIDU SIMO SLV SMH SMR SNOW
    SOFI SON SOUN SOXL SOXS SOXX SPAI SPHB SPXL SPXS SPXT SPXU SPY SPYU SQM SQQQ SRTY SSO STIP
    SVIX SVXY TAN TARK TBF TBT TECL TECS TEM TFLO TIP TLH TLT TMF TMUS TMV TNA TPR TQQQ TRV
    TSLA TSLR TSM TYD TYO TZA UCO UDN UDOW UEC UGE UGL UMAC UNG UNH UPRO URTY USD USDU USMV
    UTSL UUP UVIX UVXY UWM UYG UYM V VBF VDE VGSH VIXM VIXY VLO VNOM VOOG VOOV VOX VPU VRSN
    VRTX VTI VTR VTV VXX WANT WELL WKEY WTMF WULF X XBI XLB XLE XLF XLI XLK XLP XLRE XLU XLV
    XLY XME XOM XTL YANG YCS YINN ZS
    """.split()  # noqa: SIM905 - one readable block beats 364 quoted strings
)

#: Factor names the generator simulates (lowercase; symbols are never lowercase).
FACTORS: Final[frozenset[str]] = frozenset(
    {
        # core
        "market", "vix_st", "vix_mt", "duration", "carry", "cash", "usd",
        "gold", "silver", "oil", "natgas", "ag", "base_metals", "commodities",
        "crypto", "trend",
        # equity sectors / styles / regions (market beta + own noise, see synth)
        "nasdaq", "tech", "semis", "fang", "smallcap", "midcap", "dow", "financials",
        "energy", "energy_ep", "gas_producers", "healthcare", "biotech", "staples",
        "utilities", "realestate", "industrials", "materials", "discretionary", "comms",
        "homebuilders", "retail", "defense", "clean_energy", "nuclear", "high_beta",
        "low_vol", "value", "growth", "intl_dev", "europe", "em", "china", "india",
        "brazil", "antibeta", "gold_miners", "crypto_equity", "spec_growth",
    }
)  # fmt: skip

Loadings = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """How the synthetic generator builds one symbol's daily returns and bars.

    ``loadings``: (factor-or-symbol, multiplier) pairs; ``drift``: extra annual drift
    (a fund's fee is a negative drift); ``idio_vol``: daily idiosyncratic volatility
    (scaled up in turbulent regimes for equities); ``jumps``: occasional earnings-style
    gaps; ``base_price``: close on the anchor session (2018-01-02); ``base_volume``:
    typical daily share volume.
    """

    symbol: str
    category: str
    loadings: Loadings
    idio_vol: float = 0.0
    drift: float = 0.0
    jumps: bool = False
    base_price: float = 50.0
    base_volume: float = 1_000_000.0

    @property
    def underlying(self) -> str:
        """The main factor or symbol this one tracks (first loading)."""
        return self.loadings[0][0]

    @property
    def leverage(self) -> float:
        """Multiplier on :attr:`underlying` (e.g. 3.0 for TQQQ, -3.0 for SQQQ)."""
        return self.loadings[0][1]


# --- stable name-derived numbers --------------------------------------------------------


def symbol_unit(symbol: str, salt: str) -> float:
    """A number in [0, 1) derived from ``symbol`` and ``salt`` (stable across processes)."""
    digest = hashlib.blake2b(f"{salt}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _log_uniform(symbol: str, salt: str, lo: float, hi: float) -> float:
    u = symbol_unit(symbol, salt)
    return float(lo * (hi / lo) ** u)


def _uniform(symbol: str, salt: str, lo: float, hi: float) -> float:
    return lo + (hi - lo) * symbol_unit(symbol, salt)


# --- the tables ---------------------------------------------------------------------------

#: Daily-reset leveraged / inverse funds: symbol -> (underlying symbol or factor, leverage).
_LEVERAGED: Final[dict[str, tuple[str, float]]] = {
    # Nasdaq-100
    "TQQQ": ("QQQ", 3.0), "SQQQ": ("QQQ", -3.0), "QLD": ("QQQ", 2.0), "QID": ("QQQ", -2.0),
    "PSQ": ("QQQ", -1.0),
    # S&P 500
    "UPRO": ("SPY", 3.0), "SPXL": ("SPY", 3.0), "SPXU": ("SPY", -3.0), "SPXS": ("SPY", -3.0),
    "SSO": ("SPY", 2.0), "SH": ("SPY", -1.0), "SPYU": ("SPY", 4.0),
    # Dow
    "UDOW": ("DIA", 3.0), "SDOW": ("DIA", -3.0), "DXD": ("DIA", -2.0), "DOG": ("DIA", -1.0),
    # small / mid caps
    "TNA": ("IWM", 3.0), "TZA": ("IWM", -3.0), "URTY": ("IWM", 3.0), "SRTY": ("IWM", -3.0),
    "UWM": ("IWM", 2.0), "RWM": ("IWM", -1.0), "SAA": ("IWM", 2.0),
    "MIDU": ("midcap", 3.0), "MVV": ("midcap", 2.0),
    # sectors
    "SOXL": ("SOXX", 3.0), "SOXS": ("SOXX", -3.0), "USD": ("SOXX", 2.0),
    "TECL": ("XLK", 3.0), "TECS": ("XLK", -3.0), "ROM": ("XLK", 2.0),
    "FAS": ("XLF", 3.0), "FAZ": ("XLF", -3.0), "UYG": ("XLF", 2.0),
    "ERX": ("XLE", 2.0), "NRGU": ("XLE", 3.0), "NRGD": ("XLE", -3.0),
    "GUSH": ("energy_ep", 2.0), "DRIP": ("energy_ep", -2.0), "OILD": ("energy_ep", -3.0),
    "LABU": ("XBI", 3.0), "LABD": ("XBI", -3.0),
    "CURE": ("XLV", 3.0), "PILL": ("healthcare", 3.0),
    "DRN": ("XLRE", 3.0), "DRV": ("XLRE", -3.0), "UTSL": ("XLU", 3.0), "UGE": ("XLP", 2.0),
    "UYM": ("XLB", 2.0), "LTL": ("VOX", 2.0), "DUSL": ("XLI", 3.0), "WANT": ("XLY", 3.0),
    "RETL": ("retail", 3.0), "NAIL": ("homebuilders", 3.0), "DFEN": ("ITA", 3.0),
    "HIBL": ("SPHB", 3.0), "HIBS": ("SPHB", -3.0),
    "FNGU": ("FNGS", 3.0), "FNGD": ("FNGS", -3.0), "FNGG": ("FNGS", 2.0),
    "BULZ": ("FNGS", 3.0), "TARK": ("spec_growth", 2.0),
    # international
    "EDC": ("EEM", 3.0), "EDZ": ("EEM", -3.0), "YINN": ("FXI", 3.0), "YANG": ("FXI", -3.0),
    "EFO": ("EFA", 2.0), "EURL": ("europe", 3.0),
    # rates
    "TMF": ("TLT", 3.0), "TMV": ("TLT", -3.0), "TBT": ("TLT", -2.0), "TBF": ("TLT", -1.0),
    "TYD": ("IEF", 3.0), "TYO": ("IEF", -3.0),
    # metals / commodities / currencies
    "UGL": ("GLD", 2.0), "GLL": ("GLD", -2.0), "SHNY": ("GLD", 3.0), "DULL": ("GLD", -3.0),
    "AGQ": ("SLV", 2.0), "GDXU": ("GDX", 3.0), "GDXD": ("GDX", -3.0), "JDST": ("GDX", -2.0),
    "UCO": ("oil", 2.0), "BOIL": ("UNG", 2.0), "KOLD": ("UNG", -2.0),
    "EUO": ("usd", 2.0), "YCS": ("usd", 2.0),
    # volatility (VIXY is the short-term VIX futures index)
    "VXX": ("VIXY", 1.0), "UVXY": ("VIXY", 1.5), "UVIX": ("VIXY", 2.0),
    "SVXY": ("VIXY", -0.5), "SVIX": ("VIXY", -1.0),
    # crypto and single-stock leveraged funds
    "BITX": ("BITO", 2.0), "CONL": ("COIN", 2.0),
    "NVDL": ("NVDA", 2.0), "NVDS": ("NVDA", -1.5), "AMZU": ("AMZN", 2.0),
    "AMZZ": ("AMZN", 2.0), "AAPX": ("AAPL", 2.0), "GGLL": ("GOOGL", 2.0),
    "TSLR": ("TSLA", 2.0), "FBL": ("META", 2.0),
}  # fmt: skip

#: 1x funds / indices: symbol -> (factor or symbol, beta, idiosyncratic daily vol).
_TRACKERS: Final[dict[str, tuple[str, float, float]]] = {
    "SPY": ("market", 1.0, 0.0003), "VTI": ("market", 1.02, 0.0012),
    "IOO": ("market", 0.9, 0.003), "SPXT": ("market", 0.95, 0.0015),
    "FTLS": ("market", 0.45, 0.003), "DIA": ("dow", 1.0, 0.0005),
    "QQQ": ("nasdaq", 1.0, 0.0004), "QQQE": ("nasdaq", 0.95, 0.0025),
    "FDN": ("nasdaq", 1.2, 0.006), "FNGS": ("fang", 1.0, 0.002),
    "IWM": ("smallcap", 1.0, 0.0005), "AVUV": ("smallcap", 1.05, 0.003),
    "ISCB": ("smallcap", 1.0, 0.0015), "VOOG": ("growth", 1.0, 0.001),
    "VOOV": ("value", 1.0, 0.001), "VTV": ("value", 1.0, 0.001),
    "DLN": ("value", 0.9, 0.002), "USMV": ("low_vol", 1.0, 0.001),
    "SPHB": ("high_beta", 1.0, 0.002), "BTAL": ("antibeta", 1.0, 0.002),
    "XLK": ("tech", 1.0, 0.0005), "SOXX": ("semis", 1.0, 0.0005),
    "SMH": ("semis", 1.0, 0.003), "XLF": ("financials", 1.0, 0.0005),
    "XLE": ("energy", 1.0, 0.0005), "VDE": ("energy", 1.05, 0.002),
    "XLV": ("healthcare", 1.0, 0.0005), "XBI": ("biotech", 1.0, 0.0008),
    "BBH": ("biotech", 0.7, 0.006), "XLP": ("staples", 1.0, 0.0005),
    "XLU": ("utilities", 1.0, 0.0005), "VPU": ("utilities", 1.0, 0.0015),
    "PUI": ("utilities", 1.05, 0.004), "XLRE": ("realestate", 1.0, 0.0005),
    "IYR": ("realestate", 1.0, 0.0015), "XLI": ("industrials", 1.0, 0.0005),
    "XLB": ("materials", 1.0, 0.0005), "XME": ("materials", 1.4, 0.01),
    "XLY": ("discretionary", 1.0, 0.0005), "VOX": ("comms", 1.0, 0.0005),
    "XTL": ("comms", 1.05, 0.006), "ITA": ("defense", 1.0, 0.001),
    "TAN": ("clean_energy", 1.2, 0.008), "ICLN": ("clean_energy", 1.0, 0.003),
    "FAN": ("clean_energy", 0.7, 0.006), "NLR": ("nuclear", 0.8, 0.004),
    "EFA": ("intl_dev", 1.0, 0.0008), "EEM": ("em", 1.0, 0.0008),
    "FXI": ("china", 1.0, 0.001), "EWZ": ("brazil", 1.0, 0.002),
    "EPI": ("india", 1.0, 0.002), "BITQ": ("crypto_equity", 1.0, 0.008),
    "GDX": ("gold_miners", 1.0, 0.002), "GLD": ("gold", 1.0, 0.0003),
    "SLV": ("silver", 1.0, 0.0008), "DBC": ("commodities", 1.0, 0.001),
    "PDBC": ("commodities", 1.0, 0.0015), "FTGC": ("commodities", 0.85, 0.003),
    "DBA": ("ag", 1.0, 0.001), "DBB": ("base_metals", 1.0, 0.001),
    "DBE": ("oil", 0.85, 0.004), "DBO": ("oil", 0.95, 0.002), "OILK": ("oil", 0.95, 0.003),
    "UNG": ("natgas", 1.0, 0.002), "FCG": ("gas_producers", 1.0, 0.004),
    "VIXY": ("vix_st", 1.0, 0.001), "VIXM": ("vix_mt", 1.0, 0.002),
    "UUP": ("usd", 1.0, 0.0005), "USDU": ("usd", 0.9, 0.001), "UDN": ("usd", -1.0, 0.0005),
    "KMLM": ("trend", 1.1, 0.004), "DBMF": ("trend", 0.9, 0.002),
    "CTA": ("trend", 1.0, 0.004), "WTMF": ("trend", 0.7, 0.002),
    "FMF": ("trend", 0.8, 0.003), "FAAR": ("trend", 0.6, 0.005),
    "GBTC": ("crypto", 1.0, 0.008),
    "BTF": ("crypto", 1.0, 0.004),
}  # fmt: skip

#: Funds that need more than one loading: symbol -> (loadings, idio vol, annual drift).
_MULTI: Final[dict[str, tuple[Loadings, float, float]]] = {
    "GLTR": ((("gold", 0.65), ("silver", 0.35)), 0.001, 0.0),
    "COM": ((("trend", 0.5), ("commodities", 0.3)), 0.003, 0.0),
    "BITS": ((("crypto", 0.5), ("crypto_equity", 0.5)), 0.006, 0.0),
    "BITO": ((("crypto", 1.0),), 0.002, -0.06),  # futures roll cost
    "GOOG": ((("GOOGL", 1.0),), 0.0008, 0.0),  # share classes move together
}

#: Bond funds: symbol -> (duration in years, market beta, extra yield net of defaults
#: (decimal/yr), idio vol).
#: Duration under 1 year means cash-like: it earns the short rate, not the 10y yield.
_BONDS: Final[dict[str, tuple[float, float, float, float]]] = {
    "BIL": (0.15, 0.0, 0.0, 0.00002), "SHV": (0.3, 0.0, 0.0, 0.00003),
    "GBIL": (0.2, 0.0, 0.0, 0.00003), "TFLO": (0.02, 0.0, 0.001, 0.00002),
    "SHY": (1.9, 0.0, 0.0, 0.0002), "VGSH": (1.9, 0.0, 0.0, 0.0002),
    "BSV": (2.6, 0.02, 0.002, 0.0003), "STIP": (2.5, 0.0, 0.0, 0.0005),
    "IEI": (4.3, 0.0, 0.0, 0.0003), "IEF": (7.5, 0.0, 0.0, 0.0003),
    "TLH": (12.0, 0.0, 0.0, 0.0005), "TLT": (17.0, 0.0, 0.0, 0.0005),
    "EDV": (24.0, 0.0, 0.002, 0.001), "TIP": (5.0, 0.02, 0.0, 0.001),
    "AGG": (6.1, 0.04, 0.005, 0.0006), "BND": (6.1, 0.04, 0.005, 0.0006),
    "SCHZ": (6.1, 0.04, 0.005, 0.0007), "BOND": (6.0, 0.05, 0.008, 0.001),
    "BNDX": (7.0, 0.02, 0.0, 0.0008), "BWX": (8.0, 0.05, 0.0, 0.003),
    "LQD": (8.4, 0.12, 0.006, 0.001), "IGIB": (6.3, 0.1, 0.005, 0.0008),
    "CORP": (6.5, 0.1, 0.005, 0.0009), "HYG": (3.5, 0.25, 0.005, 0.0015),
    "EMB": (7.0, 0.2, 0.008, 0.002), "VBF": (7.0, 0.15, 0.006, 0.006),
    "BKT": (4.0, 0.1, 0.008, 0.006), "MMT": (4.0, 0.2, 0.008, 0.006),
    "PIM": (3.0, 0.2, 0.008, 0.007), "MHD": (9.0, 0.15, 0.006, 0.008),
    "PMM": (8.0, 0.15, 0.006, 0.008), "EVN": (8.0, 0.15, 0.006, 0.008),
}  # fmt: skip

#: Single stocks by category: (loadings, idio vol, symbols). Each stock's betas get a
#: name-derived jitter in [0.8, 1.2] and a drift in [-5 %, +20 %] a year.
_STOCK_GROUPS: Final[dict[str, tuple[Loadings, float, tuple[str, ...]]]] = {
    "megacap_tech": (
        (("nasdaq", 1.0),), 0.012,
        ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NFLX", "ORCL", "CSCO", "IBM"),
    ),
    "semiconductor": (
        (("semis", 1.15),), 0.018,
        ("NVDA", "AMD", "AVGO", "MU", "MRVL", "QCOM", "TSM", "ASML", "ARM", "ACLS", "AEHR",
         "SIMO"),
    ),
    "software": (
        (("nasdaq", 1.3),), 0.02,
        ("CRM", "SNOW", "ZS", "FTNT", "PAYC", "APP", "PLTR", "VRSN", "INFY", "TEM"),
    ),
    "speculative_growth": (
        (("spec_growth", 1.0),), 0.04,
        ("IONQ", "QBTS", "RGTI", "QUBT", "ARQQ", "BBAI", "SOUN", "RKLB", "ACHR", "JOBY",
         "EVTL", "QS", "SES", "PLUG", "LAES", "RZLV", "RCAT", "ONDS", "SERV", "SIDU", "AIRO",
         "UMAC", "FFAI", "NLSP", "WKEY", "QMCO", "QSI", "EVLV", "SPAI", "CRNC", "OSS", "TSLA",
         "SOFI", "RXRX", "ABSI"),
    ),
    "nuclear": (
        (("nuclear", 1.0),), 0.028,
        ("CCJ", "LEU", "UEC", "SMR", "OKLO", "NNE", "BWXT", "CEG"),
    ),
    "crypto_stock": (
        (("crypto", 0.9), ("market", 1.2)), 0.03, ("COIN", "MSTR", "HOOD"),
    ),
    "crypto_miner": (
        (("crypto", 1.3), ("market", 1.0)), 0.035,
        ("MARA", "RIOT", "BITF", "CORZ", "IREN", "WULF", "APLD"),
    ),
    "energy_stock": (
        (("energy", 1.0),), 0.013, ("XOM", "CVX", "COP", "OXY", "MPC", "VLO", "DINO", "CVE",
                                    "VNOM"),
    ),
    "gas_stock": ((("gas_producers", 1.0),), 0.018, ("EQT", "AR")),
    "financial_stock": (
        (("financials", 1.0),), 0.013,
        ("JPM", "GS", "SCHW", "AXP", "V", "MA", "BX", "KKR", "BAM", "BN", "IBKR", "PGR",
         "TRV", "JKHY", "BRK/B"),
    ),
    "healthcare_stock": (
        (("healthcare", 1.0),), 0.014,
        ("JNJ", "UNH", "LLY", "NVO", "AMGN", "VRTX", "ALGN", "JYNT"),
    ),
    "biotech_stock": ((("biotech", 1.0),), 0.03, ("DVAX",)),
    "consumer_staple": (
        (("staples", 1.0),), 0.011, ("COST", "MCD", "MNST", "SFM"),
    ),
    "consumer_discretionary": (
        (("discretionary", 1.0),), 0.016, ("HD", "ROST", "LULU", "TPR"),
    ),
    "industrial": (
        (("industrials", 1.0),), 0.015, ("CAT", "GE", "GNRC", "EXPO", "DAC", "KTOS"),
    ),
    "materials_stock": (
        (("materials", 1.0), ("base_metals", 0.3)), 0.018,
        ("AA", "X", "MOS", "SQM", "LIN", "SON", "PCH"),
    ),
    "utility_reit": (
        (("utilities", 0.6), ("realestate", 0.4)), 0.011, ("EXC", "WELL", "VTR"),
    ),
    "telecom": ((("comms", 0.8),), 0.011, ("TMUS",)),
    "china_stock": ((("china", 1.2),), 0.02, ("BABA",)),
    "clean_energy_stock": ((("clean_energy", 1.4),), 0.03, ("ENPH", "BE")),
}  # fmt: skip


def _stock_profile(symbol: str, category: str, loadings: Loadings, idio: float) -> SymbolProfile:
    jitter = _uniform(symbol, "beta", 0.8, 1.2)
    return SymbolProfile(
        symbol=symbol,
        category=category,
        loadings=tuple((key, round(beta * jitter, 4)) for key, beta in loadings),
        idio_vol=round(idio * _uniform(symbol, "idio", 0.8, 1.25), 5),
        drift=round(_uniform(symbol, "drift", -0.05, 0.20), 4),
        jumps=True,
        base_price=round(_log_uniform(symbol, "price", 8.0, 400.0), 2),
        base_volume=round(_log_uniform(symbol, "volume", 300_000.0, 40_000_000.0)),
    )


def _fund(symbol: str, category: str, loadings: Loadings, idio: float, drift: float) -> SymbolProfile:
    return SymbolProfile(
        symbol=symbol,
        category=category,
        loadings=loadings,
        idio_vol=idio,
        drift=drift,
        base_price=round(_log_uniform(symbol, "price", 15.0, 300.0), 2),
        base_volume=round(_log_uniform(symbol, "volume", 100_000.0, 60_000_000.0)),
    )


def _build_table() -> dict[str, SymbolProfile]:
    table: dict[str, SymbolProfile] = {}
    for sym, (key, beta, idio) in _TRACKERS.items():
        table[sym] = _fund(sym, "fund", ((key, beta),), idio, -0.002)
    for sym, (loadings, idio, drift) in _MULTI.items():
        table[sym] = _fund(sym, "fund", loadings, idio, drift)
    for sym, (duration, mbeta, spread, idio) in _BONDS.items():
        carry = "cash" if duration < 1.0 else "carry"
        bond_loadings: Loadings = ((carry, 1.0), ("duration", duration))
        if mbeta:
            bond_loadings = (*bond_loadings, ("market", mbeta))
        category = "cash" if duration < 1.0 else "bond"
        table[sym] = _fund(sym, category, bond_loadings, idio, spread - 0.001)
    for sym, (key, lev) in _LEVERAGED.items():
        # fee plus the financing cost of the extra exposure
        drift = -0.0095 - 0.01 * max(abs(lev) - 1.0, 0.0)
        category = "inverse" if lev < 0 else "leveraged"
        table[sym] = _fund(sym, category, ((key, lev),), 0.0003, drift)
    for category, (loadings, idio, symbols) in _STOCK_GROUPS.items():
        for sym in symbols:
            table[sym] = _stock_profile(sym, category, loadings, idio)
    return table


_TABLE: Final = MappingProxyType(_build_table())


def generic_profile(symbol: str) -> SymbolProfile:
    """Profile for a symbol not in the tables: an equity with name-derived beta and vol."""
    beta = round(_uniform(symbol, "generic-beta", 0.7, 1.5), 4)
    idio = round(_uniform(symbol, "generic-idio", 0.012, 0.03), 5)
    return _stock_profile(symbol, "generic_equity", (("market", beta),), idio)


def profile_for(symbol: str) -> SymbolProfile:
    """The behaviour profile of ``symbol`` (generic equity profile when unclassified)."""
    profile = _TABLE.get(symbol)
    return profile if profile is not None else generic_profile(symbol)


def classified_symbols() -> frozenset[str]:
    """Symbols with an explicit profile (everything else is generic)."""
    return frozenset(_TABLE)
