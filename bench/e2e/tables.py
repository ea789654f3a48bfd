"""The tables of ``python -m bench.e2e``: one per scenario, one row per
server (``<mode> <variant>``, or ``node``), ratios against the reference in
the same async mode and against Node.

``med`` below is ``{row label: {metric: value}}`` (medians over rounds, or
best rounds with ``--stat best``); ``status`` is ``{row label: why}`` for
the rows that have no numbers (unsupported mode, skipped, every round
failed).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['fmt', 'ratio', 'render', 'scenario_table', 'IDLE_CPU_TARGET']

Metrics = Dict[str, Optional[float]]

# issue 4: a server holding idle WebSockets uses at most this much of a core
IDLE_CPU_TARGET = 2.0


def fmt(value: Optional[float], kind: str) -> str:
    if value is None:
        return '—'
    if kind == 'rate':
        return '%.1fk' % (value / 1e3) if value >= 1e3 else '%.0f' % value
    if kind == 'MB':
        return '%.1f' % (value / 1e6)
    if kind == 'MiB':                     # from KiB
        return '%.1f' % (value / 1024)
    if kind == 'us':
        return '%.1f' % value if value < 100 else '%.0f' % value
    if kind == 'ms':
        return '%.2f' % (value / 1e3) if value < 1e4 else '%.0f' % (value / 1e3)
    if kind == 'pct':
        return '%.0f%%' % value
    if kind == 'pct1':
        return '%.1f%%' % value if value < 10 else '%.0f%%' % value
    if kind == 'KB':
        return '%.1f' % value if value < 100 else '%.0f' % value
    if kind == 'count':
        return '%d' % value
    if kind == 'ratio':
        return '%.2fx' % value if value < 10 else '%.1fx' % value
    return str(value)


def ratio(mine: Optional[float], theirs: Optional[float],
          higher_better: bool) -> Optional[float]:
    if not mine or not theirs:
        return None
    return mine / theirs if higher_better else theirs / mine


def render(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header] + rows):
        lines.append('  '.join([row[0].ljust(widths[0])] +
                               [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
                               ).rstrip())
        if n == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def mark(ok: bool, text: str) -> str:
    return ' %s(%s)' % ('✓' if ok else '✗', text)


class Row:
    """What a table needs to know about one server."""

    def __init__(self, label: str, name: str, mode: str) -> None:
        self.label = label
        self.name = name        # compiled, pure, reference, node
        self.mode = mode

    @property
    def reference(self) -> str:
        return '%s reference' % self.mode


def comparisons(rows: Sequence[Row]) -> List[Tuple[str, str]]:
    """(column suffix, 'reference' | 'node') for the comparisons this run
    can make."""
    names = {r.name for r in rows}
    out = []
    if 'reference' in names:
        out.append(('×ref', 'reference'))
    if 'node' in names:
        out.append(('×node', 'node'))
    return out


def ratio_cells(row: Row, med: Dict[str, Metrics],
                ratios: Sequence[Tuple[str, str, bool]],
                against: str, targets: Dict[str, float]) -> List[str]:
    """One cell per ratio of ``row`` against the same-mode reference or
    Node; a target (metric -> minimum ratio) gets ✓/✗ on compiled rows."""
    other = row.reference if against == 'reference' else 'node'
    if row.label == other or (against == 'reference' and row.name == 'node'):
        return [''] * len(ratios)
    mine, theirs = med.get(row.label, {}), med.get(other, {})
    cells = []
    for _, metric, higher in ratios:
        value = ratio(mine.get(metric), theirs.get(metric), higher)
        cell = fmt(value, 'ratio')
        target = targets.get(metric)
        # no ✗ where there is nothing to compare with (the reference has
        # no embedded server)
        if target and row.name == 'compiled' and value is not None:
            cell += mark(bool(value and value >= target), '≥%gx' % target)
        cells.append(cell)
    return cells


def scenario_table(kind: str, rows: Sequence[Row], med: Dict[str, Metrics],
                   status: Dict[str, str],
                   ratios: Sequence[Tuple[str, str, bool]],
                   targets: Dict[str, float],
                   node_targets: Dict[str, float],
                   closed_loop: bool = False,
                   bytes_metric: bool = False) -> Tuple[str, List[str]]:
    """The table of one scenario and the notes to print under it."""
    notes: List[str] = []
    if kind == 'idle':
        header = ['server', 'conns/s', 'KB/conn', 'base MB', 'MB open',
                  'idle CPU', 'pings', 'gen CPU', 'errors']
    elif kind == 'broadcast':
        header = ['server', 'msgs/s', 'delivered', 'CPU µs/msg', 'srv CPU',
                  'lag p50 ms', 'lag p99 ms', 'gen CPU', 'errors']
    else:
        header = ['server', 'MB/s' if bytes_metric else 'msgs/s',
                  'CPU µs/msg', 'srv CPU', 'p50 ms', 'p99 ms', 'gen CPU',
                  'errors']
    compare = comparisons(rows)
    for suffix, _ in compare:
        header += ['%s %s' % (label, suffix) for label, _, _ in ratios]
    lines = []
    for row in rows:
        m = med.get(row.label, {})
        if row.label in status:
            cells = [row.label, status[row.label]] + \
                [''] * (len(header) - 2)
            lines.append(cells)
            continue
        if kind == 'idle':
            idle_cpu = m.get('idle_cpu_pct')
            cpu = fmt(idle_cpu, 'pct1')
            if row.name in ('compiled', 'pure') and idle_cpu is not None:
                cpu += mark(idle_cpu <= IDLE_CPU_TARGET,
                            '≤%g%%' % IDLE_CPU_TARGET)
            cells = [row.label, fmt(m.get('conns_per_s'), 'rate'),
                     fmt(m.get('rss_per_conn_kb'), 'KB'),
                     fmt(m.get('server_rss_baseline_kb'), 'MiB'),
                     fmt(m.get('server_rss_kb'), 'MiB'), cpu,
                     fmt(m.get('pings'), 'count'),
                     fmt(m.get('generator_cpu_pct'), 'pct'),
                     fmt(m.get('errors'), 'count')]
        elif kind == 'broadcast':
            expected = m.get('expected_per_s')
            delivered = m.get('msgs_per_s')
            share = delivered / expected \
                if expected and delivered is not None else None
            cells = [row.label, fmt(m.get('msgs_per_s'), 'rate'),
                     fmt(share * 100 if share is not None else None, 'pct'),
                     fmt(m.get('server_cpu_us_per_msg'), 'us'),
                     fmt(m.get('server_cpu_pct'), 'pct'),
                     fmt(m.get('p50_us'), 'ms'), fmt(m.get('p99_us'), 'ms'),
                     fmt(m.get('generator_cpu_pct'), 'pct'),
                     fmt(m.get('errors'), 'count')]
            if share is not None and share < 0.95:
                notes.append('%s: delivered %.0f%% of the %s messages/s '
                             'asked for: the server fell behind' % (
                                 row.label, share * 100, fmt(expected, 'rate')))
        else:
            main = fmt(m.get('bytes_per_s'), 'MB') if bytes_metric \
                else fmt(m.get('msgs_per_s'), 'rate')
            cells = [row.label, main, fmt(m.get('server_cpu_us_per_msg'), 'us'),
                     fmt(m.get('server_cpu_pct'), 'pct'),
                     fmt(m.get('p50_us'), 'ms'), fmt(m.get('p99_us'), 'ms'),
                     fmt(m.get('generator_cpu_pct'), 'pct'),
                     fmt(m.get('errors'), 'count')]
            busy = m.get('server_cpu_pct')
            if closed_loop and busy is not None and busy < 80:
                notes.append('%s: the server used only %.0f%% of its core in '
                             'a closed loop: something else (the machine, the '
                             'generator) limited this row' % (row.label, busy))
        gen = m.get('generator_cpu_pct')
        if gen is not None and gen > 90:
            notes.append('%s: the generator used %.0f%% of its core: this '
                         'number may be the generator\'s limit, not the '
                         'server\'s' % (row.label, gen))
        for _, against in compare:
            cells += ratio_cells(row, med, ratios, against,
                                 targets if against == 'reference'
                                 else node_targets)
        lines.append(cells)
    return render(header, lines), notes
