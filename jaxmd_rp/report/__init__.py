"""Reporting: tables to CSV/JSON/Parquet files and standard plots, for the experiments and for
any design study.

The experiments (`jaxmd_rp.experiments`) return data (results, tables as lists of dicts, claim
checks); this package writes them. Data files are always written before plots, so a plot that
fails (e.g. on degenerate data) never costs the numbers. Plotting needs matplotlib (a dependency
of the package) and never opens a window (the Agg backend); Parquet needs pandas and pyarrow
(`pip install 'jaxmd_rp[parquet]'`).
"""

from ._figures import plot_fig6 as plot_fig6
from ._figures import plot_fig7 as plot_fig7
from ._figures import plot_study as plot_study
from ._figures import write_fig6_outputs as write_fig6_outputs
from ._figures import write_fig7_outputs as write_fig7_outputs
from ._files import write_csv as write_csv
from ._files import write_json as write_json
from ._files import write_parquet as write_parquet
from ._study import STUDY_OUTPUTS as STUDY_OUTPUTS
from ._study import plot_study_gap as plot_study_gap
from ._study import plot_study_theta as plot_study_theta
from ._study import write_study_outputs as write_study_outputs
