"""The one Dagster `Definitions` object of the project.

The daily asset graph (market bars -> signals -> target allocation -> plan ->
execution -> report) is added here as it is built; see DESIGN.md.
"""

import dagster as dg

defs = dg.Definitions()
