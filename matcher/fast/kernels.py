"""Compiled kernels of ruin and recreate (numba, `cache=True`).

Each kernel is the exact counterpart of pure Python that stays the definition of its
rule: the options of a visit (`RosterState.option_tuples` with push), the choice of a
single visit's place (`construct.best_insertion`, one or two carers, push) and of a
linked pair's (`construct._place_linked`, push), the push cost
(`construct._push_cost`), the route changes (`RosterState.insert`, `remove`, `pull`)
with the rows derived from a route (`RosterState.latest_starts`, `early_minutes`), the
objective's terms (`lns.objective_terms`, route by route), and the search's own steps
(`ruin._Search`: strings, order, acceptance draw), all from CPython's random stream.
Same integers, same visiting order, same ties, same draws: the search makes the moves
the pure Python made for a seed (tests/test_ruin.py pins them; tests/test_fast.py
holds the kernels to the Python). Every kernel takes its arrays one by one: grouped in
named tuples they made an iteration twice as slow (docs/architecture.md).

Layout (`matcher.fast.roster.ArrayRoster` owns the arrays):
- `rows[shift, field, position]`, int64, fields `VISIT`, `START`, `END`, `PLACE` of
  each stop, `LATEST` (latest start it could be pushed to) and `EARLY` (minutes the
  stops from there on start before their windows; one more entry, 0, at the end);
  `n_stops[shift]`.
- per shift: `shift_facts[shift] = (matrix, home, day, start, end, worker)`, the matrix
  an index into `matrices[matrix, place, place]` (travel minutes by mode).
- per visit: `visit_facts[visit] = (place, duration, earliest, latest, preferred
  start, preferred end, movable, client, day, package, carers, partner (-1: none),
  opens (1 if it is the first visit of its link), min gap, max gap (of the link it
  opens))`; its candidate shifts `candidates[candidate_start[v]:candidate_start[v + 1]]`.
- counters: `day_minutes[worker, day]`, `week_minutes[worker]`, `max_minutes[worker]
  = (day, week)`, `seen[client, worker]` (1 if the worker sees the client).
- an option is a row `(shift, worker, position, earliest, latest, added travel)`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

VISIT, START, END, PLACE, LATEST, EARLY = range(6)
FIELDS = 6
# shift_facts columns
S_MATRIX, S_HOME, S_DAY, S_START, S_END, S_WORKER = range(6)
# visit_facts columns
(
    V_PLACE,
    V_DURATION,
    V_EARLIEST,
    V_LATEST,
    V_FROM,
    V_TO,
    V_MOVABLE,
    V_CLIENT,
    V_DAY,
    V_PACKAGE,
    V_CARERS,
    V_PARTNER,
    V_OPENS,
    V_MIN_GAP,
    V_MAX_GAP,
) = range(15)
VISIT_FACTS = 15
# Costs never reach this (the search's weighted minutes are far below 2**62).
NO_COST = 1 << 62


@njit(cache=True)
def derive_rows(rows, n_stops, s, matrices, shift_facts, visit_facts):
    """The route's `LATEST` and `EARLY` rows from its stops (`latest_starts` and
    `early_minutes`)."""
    n = n_stops[s]
    matrix = matrices[shift_facts[s, S_MATRIX]]
    next_place = shift_facts[s, S_HOME]
    next_latest = shift_facts[s, S_END]
    total = 0
    rows[s, EARLY, n] = 0
    for i in range(n - 1, -1, -1):
        v = rows[s, VISIT, i]
        place = rows[s, PLACE, i]
        start = rows[s, START, i]
        limit = next_latest - matrix[place, next_place] - visit_facts[v, V_DURATION]
        own = visit_facts[v, V_LATEST] if visit_facts[v, V_MOVABLE] else start
        if limit < own:
            own = limit
        if own < start:
            own = start
        rows[s, LATEST, i] = own
        next_latest = own
        next_place = place
        wanted = visit_facts[v, V_FROM]
        if start < wanted:
            total += wanted - start
        rows[s, EARLY, i] = total


@njit(cache=True)
def options(
    rows,
    n_stops,
    matrices,
    shift_facts,
    day_minutes,
    week_minutes,
    max_minutes,
    candidates,
    place,
    duration,
    visit_earliest,
    visit_latest,
    day,
    out,
    mt,
    mt_index,
    blink_rate,
):
    """Every option of the visit on its candidate shifts, later stops free to be
    pushed, hours kept (`RosterState.option_tuples` with push), into `out`, less those
    SISR's blinks skip when `blink_rate` >= 0 (`construct._raw_options`: one draw of the
    random stream `mt`, `mt_index` per option, in order); returns how many."""
    found = 0
    ends_by = visit_earliest + duration
    for s in candidates:
        n = n_stops[s]
        matrix = matrices[shift_facts[s, S_MATRIX]]
        home = shift_facts[s, S_HOME]
        worker = shift_facts[s, S_WORKER]
        begin = found
        most_added = 0
        # bisect_left(latest starts, ends_by)
        low, high = 0, n
        while low < high:
            middle = (low + high) // 2
            if rows[s, LATEST, middle] < ends_by:
                low = middle + 1
            else:
                high = middle
        first = low
        if first > 0:
            prev_place = rows[s, PLACE, first - 1]
            ready = rows[s, END, first - 1]
        else:
            prev_place = home
            ready = shift_facts[s, S_START]
        if shift_facts[s, S_DAY] == day and (first == 0 or ready <= visit_latest):
            broke = False
            for position in range(first, n):
                next_place = rows[s, PLACE, position]
                there = matrix[prev_place, place]
                back = matrix[place, next_place]
                earliest = ready + there
                if earliest < visit_earliest:
                    earliest = visit_earliest
                latest = rows[s, LATEST, position] - duration - back
                if latest > visit_latest:
                    latest = visit_latest
                if earliest <= latest:
                    added = there + back - matrix[prev_place, next_place]
                    _put(out, found, s, worker, position, earliest, latest, added)
                    found += 1
                    if added > most_added:
                        most_added = added
                prev_place = next_place
                ready = rows[s, END, position]
                if ready > visit_latest:
                    broke = True
                    break
            if not broke:
                there = matrix[prev_place, place]
                back = matrix[place, home]
                earliest = ready + there
                if earliest < visit_earliest:
                    earliest = visit_earliest
                latest = shift_facts[s, S_END] - duration - back
                if latest > visit_latest:
                    latest = visit_latest
                if earliest <= latest:
                    added = there + back - (matrix[prev_place, home] if n else 0)
                    _put(out, found, s, worker, n, earliest, latest, added)
                    found += 1
                    if added > most_added:
                        most_added = added
        if found == begin:
            continue
        room = max_minutes[worker, 0] - day_minutes[worker, day]
        week_room = max_minutes[worker, 1] - week_minutes[worker]
        if week_room < room:
            room = week_room
        room -= duration
        if most_added > room:
            kept = begin
            for k in range(begin, found):
                if out[k, 5] <= room:
                    if kept != k:
                        out[kept, :] = out[k, :]
                    kept += 1
            found = kept
    if blink_rate < 0:
        return found
    kept = 0
    for k in range(found):
        if not random(mt, mt_index) < blink_rate:
            if kept != k:
                out[kept, :] = out[k, :]
            kept += 1
    return kept


@njit(cache=True, inline="always")
def _put(out, k, s, worker, position, earliest, latest, added):
    out[k, 0] = s
    out[k, 1] = worker
    out[k, 2] = position
    out[k, 3] = earliest
    out[k, 4] = latest
    out[k, 5] = added


# CPython's Mersenne Twister (Modules/_randommodule.c), so that the kernels draw the
# blinks from the search's own `random.Random` stream: its state (`getstate()`) is
# copied in before a search runs and back after it (`roster.RandomStream`).
_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF
_WORD = 0xFFFFFFFF


@njit(cache=True)
def _twist(mt):
    for kk in range(_N):
        y = (mt[kk] & _UPPER) | (mt[(kk + 1) % _N] & _LOWER)
        value = mt[(kk + _M) % _N] ^ (y >> 1)
        if y & 1:
            value ^= _MATRIX_A
        mt[kk] = value & _WORD


@njit(cache=True)
def _next_word(mt, mt_index):
    """`genrand_uint32`: the stream's next 32-bit word."""
    if mt_index[0] >= _N:
        _twist(mt)
        mt_index[0] = 0
    y = mt[mt_index[0]]
    mt_index[0] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & _WORD


@njit(cache=True)
def random(mt, mt_index):
    """`random.Random.random()` (`genrand_res53`) on the copied state."""
    a = _next_word(mt, mt_index) >> 5
    b = _next_word(mt, mt_index) >> 6
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def push_cost(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    s,
    position,
    duration,
    place,
    start,
    window_weight,
):
    """`construct._push_cost`: extra weighted minutes off window of the stops that an
    insertion at `start` in front of `position` moves on."""
    n = n_stops[s]
    if position == n:
        return 0
    matrix = matrices[shift_facts[s, S_MATRIX]]
    ready = start + duration
    if ready + matrix[place, rows[s, PLACE, position]] <= rows[s, START, position]:
        return 0
    extra = 0
    for index in range(position, n):
        stop_place = rows[s, PLACE, index]
        arrive = ready + matrix[place, stop_place]
        was = rows[s, START, index]
        if arrive <= was:
            break
        v = rows[s, VISIT, index]
        low = visit_facts[v, V_FROM]
        high = visit_facts[v, V_TO]
        off = low - arrive
        if arrive - high > off:
            off = arrive - high
        if off > 0:
            extra += off
        off = low - was
        if was - high > off:
            off = was - high
        if off > 0:
            extra -= off
        ready = arrive + (rows[s, END, index] - was)
        place = stop_place
    return extra * window_weight


@njit(cache=True)
def best_single(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    found,
    n,
    seen,
    eligible,
    duration,
    place,
    wanted,
    due,
    per_minute,
    new_worker,
    mismatch,
    window_weight,
):
    """`construct.best_insertion` for one carer with push: the index in `found` of the
    cheapest option (the first of equal ones) and its start, or (-1, 0)."""
    best = -1
    best_start = 0
    best_cost = 0
    for k in range(n):
        worker = found[k, 1]
        cost = found[k, 5] * per_minute
        if not seen[worker]:
            cost += new_worker
        if not eligible[worker]:
            cost += mismatch
        earliest = found[k, 3]
        latest = found[k, 4]
        if latest < wanted:
            start = latest
            off = wanted - start
            if start - due > off:
                off = start - due
            cost += window_weight * off
        else:
            start = earliest if earliest > wanted else wanted
            if start > due:
                cost += window_weight * (start - due)
        s = found[k, 0]
        position = found[k, 2]
        if (
            best >= 0
            and cost >= best_cost
            and cost - window_weight * rows[s, EARLY, position] >= best_cost
        ):
            continue  # not even if the push took the most it could off
        cost += push_cost(
            rows,
            n_stops,
            matrices,
            shift_facts,
            visit_facts,
            s,
            position,
            duration,
            place,
            start,
            window_weight,
        )
        if best < 0 or cost < best_cost:
            best = k
            best_start = start
            best_cost = cost
    return best, best_start


@njit(cache=True)
def set_order(values):
    """The order CPython 3.11 iterates a set literal of four non-negative ints below
    2**61 - 1 in (their hashes are themselves): each goes to slot `value & 7` of an
    8-slot table, or on a taken slot on to `(5 * slot + 1 + perturb) & 7` with
    `perturb` the value shifted right by 5 more each time (`set_add_entry`, no linear
    probes at that size); duplicates are dropped; iteration is by slot. Returns the
    distinct values in that order and how many."""
    table = np.full(8, -1, dtype=np.int64)
    for value in values:
        slot = value & 7
        perturb = value
        while True:
            if table[slot] == -1:
                table[slot] = value
                break
            if table[slot] == value:
                break
            perturb >>= 5
            slot = (5 * slot + 1 + perturb) & 7
    ordered = np.empty(4, dtype=np.int64)
    count = 0
    for slot in range(8):
        if table[slot] != -1:
            ordered[count] = table[slot]
            count += 1
    return ordered, count


@njit(cache=True)
def _costs(found, n, seen, eligible, per_minute, new_worker, mismatch):
    """`construct._insertion_costs`."""
    costs = np.empty(n, dtype=np.int64)
    for k in range(n):
        worker = found[k, 1]
        cost = found[k, 5] * per_minute
        if not seen[worker]:
            cost += new_worker
        if not eligible[worker]:
            cost += mismatch
        costs[k] = cost
    return costs


@njit(cache=True)
def best_pair(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    firsts,
    n_a,
    seconds,
    n_b,
    seen,
    eligible_a,
    eligible_b,
    first_visit,
    second_visit,
    min_gap,
    max_gap,
    per_minute,
    new_worker,
    mismatch,
    window_weight,
):
    """`construct._place_linked` with push: the first and second options' indices and
    the two starts of the cheapest pair, ties to the first in (first option, second
    option, start) order, or i = -1. `seen` is the client's (both visits are one
    client's)."""
    cost_a = _costs(firsts, n_a, seen, eligible_a, per_minute, new_worker, mismatch)
    cost_b = _costs(seconds, n_b, seen, eligible_b, per_minute, new_worker, mismatch)
    order_a = np.argsort(cost_a, kind="mergesort")
    order_b = np.argsort(cost_b, kind="mergesort")
    cheapest_b = cost_b[order_b[0]] if n_b else 0
    most_off_a = np.empty(n_a, dtype=np.int64)
    for k in range(n_a):
        most_off_a[k] = window_weight * rows[firsts[k, 0], EARLY, firsts[k, 2]]
    most_off_b = np.empty(n_b, dtype=np.int64)
    for k in range(n_b):
        most_off_b[k] = window_weight * rows[seconds[k, 0], EARLY, seconds[k, 2]]
    first_from = visit_facts[first_visit, V_FROM]
    first_to = visit_facts[first_visit, V_TO]
    second_from = visit_facts[second_visit, V_FROM]
    second_to = visit_facts[second_visit, V_TO]
    a_place = visit_facts[first_visit, V_PLACE]
    a_duration = visit_facts[first_visit, V_DURATION]
    b_place = visit_facts[second_visit, V_PLACE]
    b_duration = visit_facts[second_visit, V_DURATION]
    has_best = False
    best_cost = NO_COST
    best_i = best_j = best_k = -1
    best_start = best_then = 0
    least_gap = min_gap if min_gap < max_gap else max_gap
    starts = np.empty(4, dtype=np.int64)
    for i in order_a:
        cost_i = cost_a[i]
        if cost_i + cheapest_b > best_cost:
            break
        a_worker = firsts[i, 1]
        a_earliest = firsts[i, 3]
        a_latest = firsts[i, 4]
        off_i = most_off_a[i]
        for j in order_b:
            base = cost_b[j] + cost_i
            if base > best_cost:
                break
            b_worker = seconds[j, 1]
            if b_worker == a_worker:
                continue
            b_earliest = seconds[j, 3]
            b_latest = seconds[j, 4]
            off_j = most_off_b[j]
            low = b_earliest - max_gap
            if low < a_earliest:
                low = a_earliest
            high = b_latest - min_gap
            if high > a_latest:
                high = a_latest
            if low > high:
                continue
            if high < first_from:
                off = first_from - high
            else:
                off = low - first_to if low > first_to else 0
            then_low = low + least_gap
            if then_low < b_earliest:
                then_low = b_earliest
            then_high = high + max_gap
            if then_high > b_latest:
                then_high = b_latest
            if then_high < second_from:
                off += second_from - then_high
            elif then_low > second_to:
                off += then_low - second_to
            if base + window_weight * off - (off_i + off_j) > best_cost:
                continue
            wanted_first = first_from if first_from > low else low
            if wanted_first > high:
                wanted_first = high
            wanted_second = second_from - max_gap
            if wanted_second < low:
                wanted_second = low
            if wanted_second > high:
                wanted_second = high
            starts[0] = low
            starts[1] = high
            starts[2] = wanted_first
            starts[3] = wanted_second
            ordered, count = set_order(starts)
            for k in range(count):
                start = ordered[k]
                then = start + min_gap
                if then < second_from:
                    then = second_from
                if then < b_earliest:
                    then = b_earliest
                if then > start + max_gap:
                    then = start + max_gap
                if then > b_latest:
                    then = b_latest
                if start < first_from:
                    off = first_from - start
                elif start > first_to:
                    off = start - first_to
                else:
                    off = 0
                if then < second_from:
                    off += second_from - then
                elif then > second_to:
                    off += then - second_to
                cost = base + window_weight * off
                if cost - (off_i + off_j) > best_cost:
                    continue
                cost += push_cost(
                    rows,
                    n_stops,
                    matrices,
                    shift_facts,
                    visit_facts,
                    firsts[i, 0],
                    firsts[i, 2],
                    a_duration,
                    a_place,
                    start,
                    window_weight,
                )
                cost += push_cost(
                    rows,
                    n_stops,
                    matrices,
                    shift_facts,
                    visit_facts,
                    seconds[j, 0],
                    seconds[j, 2],
                    b_duration,
                    b_place,
                    then,
                    window_weight,
                )
                # key = (cost, i, j, k) < best_key, lexicographically
                better = not has_best
                if not better:
                    if cost != best_cost:
                        better = cost < best_cost
                    elif i != best_i:
                        better = i < best_i
                    elif j != best_j:
                        better = j < best_j
                    else:
                        better = k < best_k
                if better:
                    has_best = True
                    best_cost = cost
                    best_i = i
                    best_j = j
                    best_k = k
                    best_start = start
                    best_then = then
    return best_i, best_j, best_start, best_then


@njit(cache=True)
def insert(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    day_minutes,
    week_minutes,
    seen,
    s,
    position,
    visit,
    start,
    added,
):
    """`RosterState.insert` on the rows: later stops pushed on as the start implies,
    the stop put in, the derived rows worked out again; the worker's minutes grow by
    the visit and the travel it adds, and they now see the client."""
    worker = shift_facts[s, S_WORKER]
    worked = visit_facts[visit, V_DURATION] + added
    day_minutes[worker, shift_facts[s, S_DAY]] += worked
    week_minutes[worker] += worked
    seen[visit_facts[visit, V_CLIENT], worker] = 1
    n = n_stops[s]
    matrix = matrices[shift_facts[s, S_MATRIX]]
    duration = visit_facts[visit, V_DURATION]
    place = visit_facts[visit, V_PLACE]
    ready = start + duration
    for i in range(position, n):
        arrive = ready + matrix[place, rows[s, PLACE, i]]
        if arrive <= rows[s, START, i]:
            break
        delay = arrive - rows[s, START, i]
        rows[s, START, i] = arrive
        rows[s, END, i] += delay
        ready = rows[s, END, i]
        place = rows[s, PLACE, i]
    for i in range(n, position, -1):
        rows[s, VISIT, i] = rows[s, VISIT, i - 1]
        rows[s, START, i] = rows[s, START, i - 1]
        rows[s, END, i] = rows[s, END, i - 1]
        rows[s, PLACE, i] = rows[s, PLACE, i - 1]
    rows[s, VISIT, position] = visit
    rows[s, START, position] = start
    rows[s, END, position] = start + duration
    rows[s, PLACE, position] = visit_facts[visit, V_PLACE]
    n_stops[s] = n + 1
    derive_rows(rows, n_stops, s, matrices, shift_facts, visit_facts)


@njit(cache=True)
def remove(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    worker_shifts,
    day_minutes,
    week_minutes,
    seen,
    s,
    visit,
):
    """The visit taken out of the route, if it is on it (`RosterState.remove`: the
    others keep their starts); returns whether it was. The worker no longer works the
    visit's minutes and the travel it added, and no longer sees its client unless
    another stop on any of their routes is the client's (`worker_shifts[worker]`:
    their shifts, -1 after the last)."""
    n = n_stops[s]
    position = -1
    for i in range(n):
        if rows[s, VISIT, i] == visit:
            position = i
            break
    if position < 0:
        return False
    matrix = matrices[shift_facts[s, S_MATRIX]]
    home = shift_facts[s, S_HOME]
    place = rows[s, PLACE, position]
    prev_place = rows[s, PLACE, position - 1] if position > 0 else home
    next_place = rows[s, PLACE, position + 1] if position + 1 < n else home
    worked = visit_facts[visit, V_DURATION] + matrix[prev_place, place] + matrix[place, next_place]
    if n > 1:
        worked -= matrix[prev_place, next_place]
    for i in range(position, n - 1):
        rows[s, VISIT, i] = rows[s, VISIT, i + 1]
        rows[s, START, i] = rows[s, START, i + 1]
        rows[s, END, i] = rows[s, END, i + 1]
        rows[s, PLACE, i] = rows[s, PLACE, i + 1]
    n_stops[s] = n - 1
    derive_rows(rows, n_stops, s, matrices, shift_facts, visit_facts)
    worker = shift_facts[s, S_WORKER]
    day_minutes[worker, shift_facts[s, S_DAY]] -= worked
    week_minutes[worker] -= worked
    client = visit_facts[visit, V_CLIENT]
    for other in worker_shifts[worker]:
        if other < 0:
            break
        for i in range(n_stops[other]):
            if visit_facts[rows[other, VISIT, i], V_CLIENT] == client:
                return True
    seen[client, worker] = 0
    return True


@njit(cache=True)
def pull(rows, n_stops, matrices, shift_facts, visit_facts, s):
    """`RosterState.pull`: movable stops start as early as travel allows, but not before
    their windows nor their hard earliest starts; returns whether any moved."""
    n = n_stops[s]
    matrix = matrices[shift_facts[s, S_MATRIX]]
    place = shift_facts[s, S_HOME]
    ready = shift_facts[s, S_START]
    moved = False
    for i in range(n):
        v = rows[s, VISIT, i]
        if visit_facts[v, V_MOVABLE]:
            start = ready + matrix[place, rows[s, PLACE, i]]
            if visit_facts[v, V_EARLIEST] > start:
                start = visit_facts[v, V_EARLIEST]
            if visit_facts[v, V_FROM] > start:
                start = visit_facts[v, V_FROM]
            if start < rows[s, START, i]:
                rows[s, START, i] = start
                rows[s, END, i] = start + visit_facts[v, V_DURATION]
                moved = True
        place = rows[s, PLACE, i]
        ready = rows[s, END, i]
    if moved:
        derive_rows(rows, n_stops, s, matrices, shift_facts, visit_facts)
    return moved


@njit(cache=True)
def best_two(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    found,
    n,
    seen,
    eligible,
    duration,
    place,
    wanted,
    due,
    per_minute,
    new_worker,
    mismatch,
    window_weight,
):
    """`construct.best_insertion` for a two-carer visit with push: the indices in
    `found` of the two carers' options (different workers, one start in both ranges)
    of the cheapest pair, the first of equal ones, and the start, or (-1, -1, 0)."""
    costs = _costs(found, n, seen, eligible, per_minute, new_worker, mismatch)
    most_off = np.empty(n, dtype=np.int64)
    for k in range(n):
        most_off[k] = window_weight * rows[found[k, 0], EARLY, found[k, 2]]
    best_i = best_j = -1
    best_start = 0
    best_cost = 0
    for i in range(n):
        for j in range(i + 1, n):
            if found[j, 1] == found[i, 1]:
                continue
            earliest = max(found[i, 3], found[j, 3])
            latest = min(found[i, 4], found[j, 4])
            if earliest > latest:
                continue
            start = latest if latest < wanted else max(earliest, wanted)
            cost = costs[i] + costs[j] + window_weight * max(0, wanted - start, start - due)
            if best_i >= 0 and cost - most_off[i] - most_off[j] >= best_cost:
                continue
            cost += push_cost(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                found[i, 0],
                found[i, 2],
                duration,
                place,
                start,
                window_weight,
            )
            cost += push_cost(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                found[j, 0],
                found[j, 2],
                duration,
                place,
                start,
                window_weight,
            )
            if best_i < 0 or cost < best_cost:
                best_i = i
                best_j = j
                best_start = start
                best_cost = cost
    return best_i, best_j, best_start


@njit(cache=True)
def route_terms(
    rows,
    n_stops,
    cost_matrices,
    shift_facts,
    shift_cost_matrix,
    visit_facts,
    carers,
    first_shift,
    eligible,
    shifts,
    route_cost,
    route_late,
    w_travel,
    w_window,
    w_gender,
):
    """Each listed route's (travel + window + gender cost, latest lateness), as
    `ruin._Search`'s objective keeps them (`lns.objective_terms` route by route: a
    two-carer visit's minutes off window count on its first shift only), written into
    `route_cost` and `route_late`; returns the change of the costs' total."""
    change = 0
    for s in shifts:
        n = n_stops[s]
        cost = 0
        late = 0
        if n:
            matrix = cost_matrices[shift_cost_matrix[s]]
            worker = shift_facts[s, S_WORKER]
            home = shift_facts[s, S_HOME]
            travel = 0
            outside = 0
            mismatches = 0
            prev = home
            for i in range(n):
                v = rows[s, VISIT, i]
                place = rows[s, PLACE, i]
                travel += matrix[prev, place]
                start = rows[s, START, i]
                if carers[v] == 1 or s == first_shift[v]:
                    if start < visit_facts[v, V_FROM]:
                        outside += visit_facts[v, V_FROM] - start
                    elif start > visit_facts[v, V_TO]:
                        outside += start - visit_facts[v, V_TO]
                if not eligible[v, worker]:
                    mismatches += 1
                if start - visit_facts[v, V_TO] > late:
                    late = start - visit_facts[v, V_TO]
                prev = place
            travel += matrix[prev, home]
            cost = w_window * outside + w_gender * mismatches + w_travel * travel
        change += cost - route_cost[s]
        route_cost[s] = cost
        route_late[s] = late
    return change


@njit(cache=True)
def continuity_terms(seen, already, clients, terms, w_client):
    """Each listed client's cost of workers new to them (`lns.objective_terms`'s
    continuity: workers who see them and had not before), written into `terms`;
    returns the change of the terms' total."""
    change = 0
    for c in clients:
        count = 0
        for worker in range(seen.shape[1]):
            if seen[c, worker] and not already[c, worker]:
                count += 1
        term = w_client * count
        change += term - terms[c]
        terms[c] = term
    return change


@njit(cache=True)
def recreate(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    candidate_start,
    candidates,
    day_minutes,
    week_minutes,
    max_minutes,
    seen,
    eligible,
    package_minutes,
    budget,
    placed,
    first_shift,
    order,
    mt,
    mt_index,
    blink_rate,
    weights,
    found_a,
    found_b,
    out,
):
    """Put the visits back in `order`, each at its cheapest place (with its partner,
    for a linked visit), later stops free to be pushed: `construct.place(state, visit,
    placed, push=True, push_first=True, blink=lambda: rng.random() < blink_rate)` for each, with
    the blinks drawn from the stream `mt`, `mt_index` (none if `blink_rate` <= 0) and,
    when nothing is found with them, once more without. `weights` = (travel minute,
    distinct worker, gender mismatch, minute outside window). Each placement goes into
    `out` as (visit, start, shift, second carer's shift or -1); returns how many."""
    n_out = 0
    for visit in order:
        if placed[visit]:
            continue
        rate = blink_rate if blink_rate > 0 else -1.0
        done = _place(
            rows,
            n_stops,
            matrices,
            shift_facts,
            visit_facts,
            candidate_start,
            candidates,
            day_minutes,
            week_minutes,
            max_minutes,
            seen,
            eligible,
            package_minutes,
            budget,
            placed,
            first_shift,
            visit,
            mt,
            mt_index,
            rate,
            weights,
            found_a,
            found_b,
            out,
            n_out,
        )
        if not done and rate >= 0:
            done = _place(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                candidate_start,
                candidates,
                day_minutes,
                week_minutes,
                max_minutes,
                seen,
                eligible,
                package_minutes,
                budget,
                placed,
                first_shift,
                visit,
                mt,
                mt_index,
                -1.0,
                weights,
                found_a,
                found_b,
                out,
                n_out,
            )
        n_out += done
    return n_out


@njit(cache=True)
def _visit_options(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    candidate_start,
    candidates,
    day_minutes,
    week_minutes,
    max_minutes,
    visit,
    found,
    mt,
    mt_index,
    rate,
):
    return options(
        rows,
        n_stops,
        matrices,
        shift_facts,
        day_minutes,
        week_minutes,
        max_minutes,
        candidates[candidate_start[visit] : candidate_start[visit + 1]],
        visit_facts[visit, V_PLACE],
        visit_facts[visit, V_DURATION],
        visit_facts[visit, V_EARLIEST],
        visit_facts[visit, V_LATEST],
        visit_facts[visit, V_DAY],
        found,
        mt,
        mt_index,
        rate,
    )


@njit(cache=True)
def _place(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    candidate_start,
    candidates,
    day_minutes,
    week_minutes,
    max_minutes,
    seen,
    eligible,
    package_minutes,
    budget,
    placed,
    first_shift,
    visit,
    mt,
    mt_index,
    rate,
    weights,
    found_a,
    found_b,
    out,
    n_out,
):
    """`construct._place` with push first: how many visits it placed (0, 1 or 2)."""
    per_minute, new_worker, mismatch, window_weight = weights[0], weights[1], weights[2], weights[3]
    partner = visit_facts[visit, V_PARTNER]
    client = visit_facts[visit, V_CLIENT]
    if partner < 0:
        package = visit_facts[visit, V_PACKAGE]
        limit = budget[package]  # `RosterState.fits_budget`
        need = visit_facts[visit, V_DURATION] * visit_facts[visit, V_CARERS]
        if limit >= 0 and package_minutes[package] + need > limit:
            return 0
        n = _visit_options(
            rows,
            n_stops,
            matrices,
            shift_facts,
            visit_facts,
            candidate_start,
            candidates,
            day_minutes,
            week_minutes,
            max_minutes,
            visit,
            found_a,
            mt,
            mt_index,
            rate,
        )
        if n == 0:
            return 0
        duration = visit_facts[visit, V_DURATION]
        place = visit_facts[visit, V_PLACE]
        wanted = visit_facts[visit, V_FROM]
        due = visit_facts[visit, V_TO]
        if visit_facts[visit, V_CARERS] == 1:
            i, start = best_single(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                found_a,
                n,
                seen[client],
                eligible[visit],
                duration,
                place,
                wanted,
                due,
                per_minute,
                new_worker,
                mismatch,
                window_weight,
            )
            j = -1
        else:
            i, j, start = best_two(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                found_a,
                n,
                seen[client],
                eligible[visit],
                duration,
                place,
                wanted,
                due,
                per_minute,
                new_worker,
                mismatch,
                window_weight,
            )
            if i < 0:
                return 0
        shift_b = -1
        if j >= 0:
            shift_b = found_a[j, 0]
            # Both options were found on the roster before either went in (different
            # workers' shifts: the second's position holds).
            _insert_option(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                day_minutes,
                week_minutes,
                seen,
                found_a,
                i,
                visit,
                start,
            )
            _insert_option(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                day_minutes,
                week_minutes,
                seen,
                found_a,
                j,
                visit,
                start,
            )
        else:
            _insert_option(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                day_minutes,
                week_minutes,
                seen,
                found_a,
                i,
                visit,
                start,
            )
        _placed(
            visit_facts,
            package_minutes,
            placed,
            first_shift,
            out,
            n_out,
            visit,
            start,
            found_a[i, 0],
            shift_b,
        )
        return 1
    if visit_facts[visit, V_OPENS]:
        first, second = visit, partner
    else:
        first, second = partner, visit
    min_gap = visit_facts[first, V_MIN_GAP]
    max_gap = visit_facts[first, V_MAX_GAP]
    if visit_facts[first, V_CARERS] != 1 or visit_facts[second, V_CARERS] != 1:
        return 0  # a linked two-carer visit is left to CP-SAT
    package = visit_facts[first, V_PACKAGE]
    limit = budget[package]
    extra = visit_facts[first, V_DURATION] + visit_facts[second, V_DURATION]
    if limit >= 0 and package_minutes[package] + extra > limit:
        return 0
    n_a = _visit_options(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        candidate_start,
        candidates,
        day_minutes,
        week_minutes,
        max_minutes,
        first,
        found_a,
        mt,
        mt_index,
        rate,
    )
    n_b = _visit_options(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        candidate_start,
        candidates,
        day_minutes,
        week_minutes,
        max_minutes,
        second,
        found_b,
        mt,
        mt_index,
        rate,
    )
    i, j, start, then = best_pair(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        found_a,
        n_a,
        found_b,
        n_b,
        seen[client],
        eligible[first],
        eligible[second],
        first,
        second,
        min_gap,
        max_gap,
        per_minute,
        new_worker,
        mismatch,
        window_weight,
    )
    if i < 0:
        return 0
    _insert_option(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        day_minutes,
        week_minutes,
        seen,
        found_a,
        i,
        first,
        start,
    )
    _placed(
        visit_facts,
        package_minutes,
        placed,
        first_shift,
        out,
        n_out,
        first,
        start,
        found_a[i, 0],
        -1,
    )
    _insert_option(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        day_minutes,
        week_minutes,
        seen,
        found_b,
        j,
        second,
        then,
    )
    _placed(
        visit_facts,
        package_minutes,
        placed,
        first_shift,
        out,
        n_out + 1,
        second,
        then,
        found_b[j, 0],
        -1,
    )
    return 2


@njit(cache=True)
def _insert_option(
    rows,
    n_stops,
    matrices,
    shift_facts,
    visit_facts,
    day_minutes,
    week_minutes,
    seen,
    found,
    k,
    visit,
    start,
):
    insert(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        day_minutes,
        week_minutes,
        seen,
        found[k, 0],
        found[k, 2],
        visit,
        start,
        found[k, 5],
    )


@njit(cache=True)
def _placed(
    visit_facts,
    package_minutes,
    placed,
    first_shift,
    out,
    n_out,
    visit,
    start,
    shift,
    shift_b,
):
    """`construct._commit`'s books: the package charged, the visit placed."""
    package_minutes[visit_facts[visit, V_PACKAGE]] += (
        visit_facts[visit, V_DURATION] * visit_facts[visit, V_CARERS]
    )
    placed[visit] = 1
    first_shift[visit] = shift if shift_b < 0 or shift < shift_b else shift_b
    out[n_out, 0] = visit
    out[n_out, 1] = start
    out[n_out, 2] = shift
    out[n_out, 3] = shift_b


# ---------------------------------------------------------------------- the iteration
#
# `ruin._Search._iterate` as one call: the strings, the order, what to save, the ruin,
# the recreate and the costs, with every random draw taken from the copied Mersenne
# Twister state in the order the Python did them (CPython 3.11's `random.Random`:
# `uniform`, `choice`, `randint`, `shuffle`, `random`).


@njit(cache=True)
def _below(mt, mt_index, n):
    """`random.Random._randbelow_with_getrandbits(n)` for 0 < n < 2**32."""
    k = 0
    while (n >> k) > 0:
        k += 1
    r = _next_word(mt, mt_index) >> (32 - k)
    while r >= n:
        r = _next_word(mt, mt_index) >> (32 - k)
    return r


@njit(cache=True)
def _uniform(mt, mt_index, a, b):
    return a + (b - a) * random(mt, mt_index)


@njit(cache=True, inline="always")
def _latest_route(route_late):
    """The largest lateness of any route (0 when none is late) and the first route with
    it (-1 when none is late): the objective's maximum-lateness term, and the route
    that a route ruin rebuilds."""
    latest, route = 0, -1
    for s in range(len(route_late)):
        if route_late[s] > latest:
            latest, route = route_late[s], s
    return latest, route


@njit(cache=True, inline="always")
def _take(visit, visit_facts, placed, is_removable, removed, in_removed, n_removed):
    """A removable `visit` and its placed partner into `removed` unless there already;
    returns the new count."""
    if is_removable[visit]:
        if not in_removed[visit]:
            in_removed[visit] = 1
            removed[n_removed] = visit
            n_removed += 1
        partner = visit_facts[visit, V_PARTNER]
        if partner >= 0 and placed[partner] and not in_removed[partner]:
            in_removed[partner] = 1
            removed[n_removed] = partner
            n_removed += 1
    return n_removed


@njit(cache=True)
def choose_strings(
    rows,
    n_stops,
    visit_facts,
    placed,
    where_a,
    where_b,
    removable,
    is_removable,
    related_start,
    related,
    mean_removed,
    max_string,
    route_share,
    route_late,
    mt,
    mt_index,
    removed,
    in_removed,
    ruined,
):
    """`ruin._Search._choose_strings`: SISR's strings around a random seed visit, into
    `removed` (in the order found, `in_removed` marking them); returns how many, and
    whether they are a whole route's. With `route_share` > 0 and a route late
    (`route_late` > 0), that share of the iterations (one more draw each) instead takes
    the latest route whole (the first of the latest), with the partner of every linked
    visit on it wherever that is (`RuinParams.route_share`)."""
    busy = 0
    n_placed = 0
    for s in range(len(n_stops)):
        if n_stops[s]:
            busy += 1
    for v in range(len(placed)):
        n_placed += placed[v]
    mean_route = n_placed / busy if busy else 1.0
    longest = float(max_string)
    if mean_route < longest:
        longest = mean_route
    most_strings = 4 * mean_removed / (1 + longest) - 1
    n_strings = int(_uniform(mt, mt_index, 1.0, most_strings + 1))
    seed = removable[_below(mt, mt_index, len(removable))]
    n_removed = 0
    n_ruined = 0
    if route_share > 0.0 and random(mt, mt_index) < route_share:
        _, s = _latest_route(route_late)
        if s >= 0:
            for i in range(n_stops[s]):
                n_removed = _take(
                    rows[s, VISIT, i],
                    visit_facts,
                    placed,
                    is_removable,
                    removed,
                    in_removed,
                    n_removed,
                )
            ruined[0] = s
            return n_removed, True
    for k in range(-1, related_start[seed + 1] - related_start[seed]):
        v = seed if k < 0 else related[related_start[seed] + k]
        if n_ruined >= n_strings:
            break
        if not placed[v] or in_removed[v]:
            continue
        if where_b[v] < 0:  # `rng.choice` of one shift: it still draws
            _below(mt, mt_index, 1)
            s = where_a[v]
        else:
            s = where_a[v] if _below(mt, mt_index, 2) == 0 else where_b[v]
        taken = False
        for r in range(n_ruined):
            if ruined[r] == s:
                taken = True
        if taken:
            continue
        n = n_stops[s]
        position = 0
        while rows[s, VISIT, position] != v:
            position += 1
        if n < longest:
            length = int(_uniform(mt, mt_index, 1.0, n + 1.0))
        else:
            length = int(_uniform(mt, mt_index, 1.0, longest + 1))
        low = position - length + 1
        if low < 0:
            low = 0
        high = n - length
        if position < high:
            high = position
        first = low + _below(mt, mt_index, high + 1 - low)
        for i in range(first, first + length):
            n_removed = _take(
                rows[s, VISIT, i], visit_facts, placed, is_removable, removed, in_removed, n_removed
            )
        ruined[n_ruined] = s
        n_ruined += 1
    return n_removed, False


@njit(cache=True)
def order_visits(todo, visit_facts, eligible_count, mt, mt_index):
    """`ruin._Search._order` of the visits `todo` (ascending): shuffled, or sorted by
    preferred start, by hardest first or by latest preferred end, ties by index."""
    visits = todo.copy()
    pick = random(mt, mt_index)
    n = len(visits)
    if pick < 0.4:
        for i in range(n - 1, 0, -1):
            j = _below(mt, mt_index, i + 1)
            visits[i], visits[j] = visits[j], visits[i]
        return visits
    keys = np.empty(n, dtype=np.int64)
    for k in range(n):
        v = visits[k]
        if pick < 0.8:
            keys[k] = visit_facts[v, V_FROM]
        elif pick < 0.9:
            keys[k] = -visit_facts[v, V_CARERS] * (1 << 32) + eligible_count[v]
        else:
            keys[k] = -visit_facts[v, V_TO]
    return visits[np.argsort(keys, kind="mergesort")]  # stable: ties stay by index


@njit(cache=True)
def save(
    rows,
    n_stops,
    route_cost,
    route_late,
    shifts,
    n_shifts,
    clients,
    n_clients,
    seen,
    client_terms,
    saved_rows,
    saved_n,
    saved_terms,
    saved_seen,
    saved_client_terms,
):
    """Copy the listed shifts' rows and terms and the listed clients' workers and terms
    aside (`restore` puts them back)."""
    for k in range(n_shifts):
        s = shifts[k]
        n = n_stops[s]
        saved_n[k] = n
        saved_rows[k, :, : n + 1] = rows[s, :, : n + 1]
        saved_terms[k, 0] = route_cost[s]
        saved_terms[k, 1] = route_late[s]
    for k in range(n_clients):
        c = clients[k]
        saved_seen[k, :] = seen[c, :]
        saved_client_terms[k] = client_terms[c]


@njit(cache=True)
def restore(
    rows,
    n_stops,
    route_cost,
    route_late,
    shifts,
    n_shifts,
    clients,
    n_clients,
    seen,
    client_terms,
    saved_rows,
    saved_n,
    saved_terms,
    saved_seen,
    saved_client_terms,
):
    """Put back what `save` copied aside."""
    for k in range(n_shifts):
        s = shifts[k]
        n = saved_n[k]
        n_stops[s] = n
        rows[s, :, : n + 1] = saved_rows[k, :, : n + 1]
        route_cost[s] = saved_terms[k, 0]
        route_late[s] = saved_terms[k, 1]
    for k in range(n_clients):
        c = clients[k]
        seen[c, :] = saved_seen[k, :]
        client_terms[c] = saved_client_terms[k]


@njit(cache=True)
def iterate(
    matrices,
    cost_matrices,
    shift_facts,
    shift_cost_matrix,
    visit_facts,
    carers,
    eligible,
    eligible_count,
    already,
    max_minutes,
    worker_shifts,
    candidate_start,
    candidates,
    budget,
    removable,
    is_removable,
    related_start,
    related,
    rows,
    n_stops,
    day_minutes,
    week_minutes,
    seen,
    package_minutes,
    placed,
    where_a,
    where_b,
    route_cost,
    route_late,
    client_terms,
    totals,
    params,
    weights,
    mt,
    mt_index,
    visit_scratch,
    shift_scratch,
    client_scratch,
    found_a,
    found_b,
    out,
    saved_rows,
    saved_n,
    saved_terms,
    saved_seen,
    saved_client_terms,
    saved_day_minutes,
    saved_week_minutes,
    saved_package_minutes,
    saved_visits,
    saved_totals,
):
    """One ruin and recreate (`ruin._Search._iterate`), everything it may change saved
    first (`undo` puts it back); returns the objective after it and the random draw its
    acceptance takes next. `totals` = (routes' terms, clients' terms, unassigned
    visits); `params` = (mean removed, longest string, blink rate, route share);
    `weights` = (travel minute, distinct worker, gender mismatch, minute outside window,
    then scaled: travel, window, gender, distinct worker, lateness, unassigned visit).
    Scratch, zero between calls where a mask: `visit_scratch[0..3]` = removed, in
    removed, todo mask, todo; `shift_scratch[0..5]` = ruined, shift mask, saved shifts,
    cut, touched mask, touched; `client_scratch[0..2]` = client mask, saved clients,
    counts (saved shifts, saved clients)."""
    removed, in_removed, todo_mask, todo = (
        visit_scratch[0],
        visit_scratch[1],
        visit_scratch[2],
        visit_scratch[3],
    )
    ruined, shift_mask, shift_list, cut, touched_mask, touched = (
        shift_scratch[0],
        shift_scratch[1],
        shift_scratch[2],
        shift_scratch[3],
        shift_scratch[4],
        shift_scratch[5],
    )
    client_mask, client_list, counts = client_scratch[0], client_scratch[1], client_scratch[2]
    n_visits = len(placed)

    # The strings, and every visit to put back in index order.
    n_removed, _ = choose_strings(
        rows,
        n_stops,
        visit_facts,
        placed,
        where_a,
        where_b,
        removable,
        is_removable,
        related_start,
        related,
        params[0],
        int(params[1]),
        params[3],
        route_late,
        mt,
        mt_index,
        removed,
        in_removed,
        ruined,
    )
    for k in range(n_removed):
        todo_mask[removed[k]] = 1
        in_removed[removed[k]] = 0
    if totals[2]:
        for v in removable:
            if not placed[v]:
                todo_mask[v] = 1
    n_todo = 0
    for v in range(n_visits):
        if todo_mask[v]:
            todo_mask[v] = 0
            todo[n_todo] = v
            n_todo += 1

    # Everything that placing or removing them may change, saved.
    n_shifts = 0
    n_clients = 0
    for k in range(n_todo):
        v = todo[k]
        for s in candidates[candidate_start[v] : candidate_start[v + 1]]:
            if not shift_mask[s]:
                shift_mask[s] = 1
                shift_list[n_shifts] = s
                n_shifts += 1
        c = visit_facts[v, V_CLIENT]
        if not client_mask[c]:
            client_mask[c] = 1
            client_list[n_clients] = c
            n_clients += 1
    for k in range(n_shifts):
        shift_mask[shift_list[k]] = 0
    for k in range(n_clients):
        client_mask[client_list[k]] = 0
    counts[0] = n_shifts
    counts[1] = n_clients
    save(
        rows,
        n_stops,
        route_cost,
        route_late,
        shift_list,
        n_shifts,
        client_list,
        n_clients,
        seen,
        client_terms,
        saved_rows,
        saved_n,
        saved_terms,
        saved_seen,
        saved_client_terms,
    )
    saved_day_minutes[:] = day_minutes
    saved_week_minutes[:] = week_minutes
    saved_package_minutes[:] = package_minutes
    saved_visits[0, :] = placed
    saved_visits[1, :] = where_a
    saved_visits[2, :] = where_b
    saved_totals[:] = totals

    # Ruin: each removed visit out of its shifts, then the routes cut pulled.
    n_cut = 0
    for k in range(n_removed):
        visit = removed[k]
        taken = False
        for s in (where_a[visit], where_b[visit]):
            if s >= 0 and remove(
                rows,
                n_stops,
                matrices,
                shift_facts,
                visit_facts,
                worker_shifts,
                day_minutes,
                week_minutes,
                seen,
                s,
                visit,
            ):
                taken = True
                if not touched_mask[s]:
                    touched_mask[s] = 1
                    cut[n_cut] = s
                    n_cut += 1
        if taken:
            package_minutes[visit_facts[visit, V_PACKAGE]] -= (
                visit_facts[visit, V_DURATION] * visit_facts[visit, V_CARERS]
            )
        placed[visit] = 0
        where_a[visit] = -1
        where_b[visit] = -1
    for k in range(n_cut):
        pull(rows, n_stops, matrices, shift_facts, visit_facts, cut[k])
        touched[k] = cut[k]
    n_touched = n_cut
    totals[2] += n_removed

    # Recreate, in one of the orders.
    order = order_visits(todo[:n_todo], visit_facts, eligible_count, mt, mt_index)
    n_out = recreate(
        rows,
        n_stops,
        matrices,
        shift_facts,
        visit_facts,
        candidate_start,
        candidates,
        day_minutes,
        week_minutes,
        max_minutes,
        seen,
        eligible,
        package_minutes,
        budget,
        placed,
        where_a,
        order,
        mt,
        mt_index,
        params[2],
        weights[:4],
        found_a,
        found_b,
        out,
    )
    for k in range(n_out):
        visit, s, other = out[k, 0], out[k, 2], out[k, 3]
        if other >= 0 and other < s:
            s, other = other, s
        where_a[visit] = s
        where_b[visit] = other
        for shift in (s, other):
            if shift >= 0 and not touched_mask[shift]:
                touched_mask[shift] = 1
                touched[n_touched] = shift
                n_touched += 1
    totals[2] -= n_out
    for k in range(n_touched):
        touched_mask[touched[k]] = 0

    # The terms of what changed, and the objective.
    totals[0] += route_terms(
        rows,
        n_stops,
        cost_matrices,
        shift_facts,
        shift_cost_matrix,
        visit_facts,
        carers,
        where_a,
        eligible,
        touched[:n_touched],
        route_cost,
        route_late,
        weights[4],
        weights[5],
        weights[6],
    )
    totals[1] += continuity_terms(seen, already, client_list[:n_clients], client_terms, weights[7])
    late, _ = _latest_route(route_late)
    value = totals[0] + totals[1] + weights[8] * late + weights[9] * totals[2]
    return value, random(mt, mt_index)


@njit(cache=True)
def undo(
    rows,
    n_stops,
    day_minutes,
    week_minutes,
    seen,
    package_minutes,
    placed,
    where_a,
    where_b,
    route_cost,
    route_late,
    client_terms,
    totals,
    shift_scratch,
    client_scratch,
    saved_rows,
    saved_n,
    saved_terms,
    saved_seen,
    saved_client_terms,
    saved_day_minutes,
    saved_week_minutes,
    saved_package_minutes,
    saved_visits,
    saved_totals,
):
    """Put back everything the last `iterate` saved."""
    counts = client_scratch[2]
    restore(
        rows,
        n_stops,
        route_cost,
        route_late,
        shift_scratch[2],
        counts[0],
        client_scratch[1],
        counts[1],
        seen,
        client_terms,
        saved_rows,
        saved_n,
        saved_terms,
        saved_seen,
        saved_client_terms,
    )
    day_minutes[:] = saved_day_minutes
    week_minutes[:] = saved_week_minutes
    package_minutes[:] = saved_package_minutes
    placed[:] = saved_visits[0]
    where_a[:] = saved_visits[1]
    where_b[:] = saved_visits[2]
    totals[:] = saved_totals
