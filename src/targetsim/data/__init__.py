"""targetsim.data: read CRM exports, validate them, compute the funnel facts.

Public API
----------
load_opportunities, load_funnel, demo_data_path, summarize_funnel, build_funnel,
check_opportunities (the canonical table contract, as a pandera schema),
Opportunities, FunnelData, FunnelFacts, ExportOptions (stage names, stage history,
currencies, placeholder amounts), ReadOptions (how a file writes dates, numbers; which
sheet), expected_close_signal.
"""

from targetsim.data.adapters import ExportOptions, expected_close_signal
from targetsim.data.facts import FunnelFacts, GroupFacts, StageFacts, summarize_funnel
from targetsim.data.funnel import DEFAULT_SEGMENT, OUTCOMES, FunnelData, Opportunities, build_funnel
from targetsim.data.load import FORMATS, demo_data_path, load_funnel, load_opportunities
from targetsim.data.options import ReadOptions
from targetsim.data.schema import check_opportunities

__all__ = [
    "DEFAULT_SEGMENT",
    "ExportOptions",
    "FORMATS",
    "OUTCOMES",
    "FunnelData",
    "FunnelFacts",
    "GroupFacts",
    "Opportunities",
    "ReadOptions",
    "StageFacts",
    "build_funnel",
    "check_opportunities",
    "demo_data_path",
    "expected_close_signal",
    "load_funnel",
    "load_opportunities",
    "summarize_funnel",
]
