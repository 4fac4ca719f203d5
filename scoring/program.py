"""The code generators of the compiler: a rule set's decisions (`build_program`) and the end
of its aggregation (`build_finish`), compiled once more into Python functions without a tree
walk. The shapes they fill (`Program`, `AggregatePlan.finish`) are in scoring.rules.

`rules.Cond` objects answer one condition at a time through a method call per node, and
they stay the source of truth for the human answer (`describe`). For the fast answer,
`build_program` turns every condition of the fit rules, disqualifiers, MQL rules, stages and
segment dimensions into one inline Python expression over:

    T        per field, the answers of every test on it (`Program.read`: each field read
             and stripped once per lead, its answers remembered per text)
    P        the aggregate's probe timestamps
    now_ts   `now` in epoch seconds
    S        the scores in whole cents (groups, total, engagement, fit)
    M        whether the lead is MQL (stage and segment rules only)

and `exec`s them into five functions. Each expression does exactly what the `test` of its
condition does (same values, same comparisons, same short-circuit order), only without the
calls: `and`/`or`/`not` for the combinators, the remembered answer `T[i][j]` for a field
test, cent comparisons for a score, and for an activity count "at least k" the k-th latest
probe timestamp against the window (`probe_count` when `not_followed_by` needs it). Apart
from integer indexes, nothing from the rule files is pasted into the source: field and rule
names, labels and numbers are bound as names.

`build_finish` writes out `aggregate.tally` and `aggregate.slot_times` per rule set, so this
module sits above scoring.aggregate and below scoring.compile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from scoring.aggregate import slot_times, tally
from scoring.fields import as_text, field_getter
from scoring.matchers import MEMO_SIZE
from scoring.result import RuleTally
from scoring.rules import (
    HALF_LIFE,
    ActivityCond,
    AllCond,
    AnyCond,
    BehaviourSpec,
    Cond,
    FieldCond,
    MqlFlagCond,
    NotCond,
    Probe,
    Program,
    ScoreCond,
    SlotPlan,
    probe_count,
)


class _Source:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {"probe_count": probe_count, "as_text": as_text}
        self.fields: dict[str, list[Callable[[str | None], bool]]] = {}  # ref -> its tests

    def bind(self, value: object, prefix: str) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def expr(self, cond: Cond) -> str:
        if isinstance(cond, FieldCond):
            tests = self.fields.setdefault(cond.ref, [])
            field = list(self.fields).index(cond.ref)
            tests.append(cond.check)
            return f"T[{field}][{len(tests) - 1}]"
        if isinstance(cond, ScoreCond):
            cents = f"S[{self.bind(cond.name, 'score')}]"
            fails = [f"{cents} {op} {self.bind(bound, 'bound')}"
                     for op, bound in (("<", cond.min), (">", cond.max), ("<=", cond.above),
                                       (">=", cond.below))
                     if bound is not None]
            return f"(not ({' or '.join(fails)}))" if fails else "True"
        if isinstance(cond, ActivityCond):
            times, k = f"P[{cond.probe}]", cond.at_least
            if cond.followed is not None:
                within = self.bind(cond.within, "within")
                return (f"(probe_count({times}, P[{cond.followed}], {within}, now_ts) "
                        f">= {self.bind(k, 'least')})")
            if k < 1:
                return "True"
            enough = f"len({times}) >= {self.bind(k, 'least')}"
            if cond.within is None:
                return f"({enough})"
            # ascending timestamps: at least k at or after `lower` iff the k-th latest is
            return f"({enough} and {times}[-{k:d}] >= now_ts - {self.bind(cond.within, 'within')})"
        if isinstance(cond, AllCond):
            return "(" + " and ".join(self.expr(p) for p in cond.parts) + ")" \
                if cond.parts else "True"
        if isinstance(cond, AnyCond):
            return "(" + " or ".join(self.expr(p) for p in cond.parts) + ")" \
                if cond.parts else "False"
        if isinstance(cond, NotCond):
            return f"(not {self.expr(cond.part)})"
        if isinstance(cond, MqlFlagCond):
            return f"(M is {self.bind(cond.wanted, 'flag')})"
        raise TypeError(f"no fast form for {cond!r}")

    def first(self, rules: Sequence[tuple[str, Cond]], default: str, target: str,
              indent: str) -> list[str]:
        """Ordered rules: the first whose condition holds names the label."""
        lines = []
        for n, (label, when) in enumerate(rules):
            lines.append(f"{indent}{'if' if n == 0 else 'elif'} {self.expr(when)}:")
            lines.append(f"{indent}    {target} = {self.bind(label, 'label')}")
        if not lines:
            return [f"{indent}{target} = {self.bind(default, 'label')}"]
        return [*lines, f"{indent}else:", f"{indent}    {target} = {self.bind(default, 'label')}"]


def build_program(
    fit: Sequence[Cond],
    disqualifiers: Sequence[tuple[str, Cond]],
    mql_rules: Sequence[Cond],
    stages: Sequence[tuple[str, Cond]],
    default_stage: str,
    dimensions: Sequence[tuple[str, Sequence[tuple[str, Cond]], str]],  # name, rules, default
    separator: str,
) -> Program:
    src = _Source()
    lines = ["def fit(T):"]
    lines.append(f"    return ({''.join(src.expr(c) + ', ' for c in fit)})")

    lines.append("def disqualified(T, P, now_ts, S):")
    lines.append("    found = []")
    for rule_id, when in disqualifiers:
        lines.append(f"    if {src.expr(when)}:")
        lines.append(f"        found.append({src.bind(rule_id, 'rule')})")
    lines.append("    return tuple(found)")

    lines.append("def qualifying(T, P, now_ts, S):")
    for n, when in enumerate(mql_rules):
        lines.append(f"    if {src.expr(when)}:")
        lines.append(f"        return {n}")
    lines.append("    return -1")

    lines.append("def labels(T, P, now_ts, S, M):")
    lines += src.first(stages, default_stage, "stage", "    ")
    for n, (_, rules, default) in enumerate(dimensions):
        lines += src.first(rules, default, f"d{n}", "    ")
    values = "".join(f"d{n}, " for n in range(len(dimensions)))
    segments = ", ".join(f"{src.bind(name, 'dimension')}: d{n}"
                         for n, (name, _, _) in enumerate(dimensions))
    lines.append(f"    return stage, {src.bind(separator, 'separator')}.join(({values})), "
                 f"{{{segments}}}")

    # Fields last, once every test is known: per field, the answers of all tests on it,
    # remembered per text (titles, domains and sizes repeat across leads; a text's answers
    # never change). Plain properties are read inline, as_text inline for strings.
    lines.append("def read(contact, company):")
    lines.append("    props = contact.properties")
    lines.append("    cprops = None if company is None else company.properties")
    for index, (ref, tests) in enumerate(src.fields.items()):
        owner, _, name = ref.partition(".")
        key = src.bind(name, "key")
        if owner == "contact" and name == "email_domain":  # fields._email_domain, inline
            lines += ["    v = contact.email or props.get('email')",
                      "    v = (v.rpartition('@')[2].strip().lower() or None) "
                      "if v and '@' in v else None"]
        elif owner == "contact" and name == "email":
            lines.append(f"    v = {src.bind(field_getter(ref), 'get')}(contact, company)")
        elif owner == "contact":
            lines.append(f"    v = props.get({key})")
        else:
            lines.append(f"    v = None if cprops is None else cprops.get({key})")
        lines.append("    v = (v.strip() or None) if type(v) is str else "
                     "None if v is None else as_text(v)")
        memo = src.bind({}, "memo")
        lines.append(f"    m{index} = {memo}.get(v)")
        lines.append(f"    if m{index} is None:")
        lines.append(f"        m{index} = {src.bind(_answers(tests), 'answer')}(v, {memo})")
    lines.append(f"    return ({''.join(f'm{i}, ' for i in range(len(src.fields)))})")

    source = "\n".join(lines) + "\n"
    namespace = dict(src.names)
    exec(compile(source, "<scoring rules>", "exec"), namespace)
    return Program(namespace["read"], namespace["fit"], namespace["disqualified"],
                   namespace["qualifying"], namespace["labels"], source)


def build_finish(
    behaviour: Sequence[BehaviourSpec],
    probes: Sequence[Probe],
    direct: Sequence[int],
    merged: Sequence[tuple[int, SlotPlan]],
) -> Callable[[list[list[float] | None], float],
              tuple[dict[str, RuleTally], tuple[tuple[float, ...], ...]]]:
    """The end of aggregation as straight-line code: every slot's timestamps, then each
    behaviour rule's tally, then the probes. Half-life rules (the common decay) get
    `aggregate.tally` and `window_shares` written out with the rule's numbers bound as
    names: the same operations in the same order, without the calls and attribute reads;
    a window cap of k times whole points counts the activities that earned points instead
    of summing shares (the same floats, see below). Probes that read only the latest
    timestamp of several kinds get `slot_times` written out. Other decays call
    `aggregate.tally`."""
    names: dict[str, Any] = {"slot_times": slot_times, "tally": tally, "exp": math.exp,
                             "new": tuple.__new__, "RuleTally": RuleTally, "NONE": ()}

    def bind(value: object, prefix: str) -> str:
        name = f"{prefix}{len(names)}"
        names[name] = value
        return name

    lines = ["def finish(found, ref):"]
    merged_slots = {slot for slot, _ in merged}
    for slot, index in enumerate(direct):
        if slot not in merged_slots:
            lines.append(f"    h{slot} = found[{index}]")
    for slot, spec in merged:
        if spec.keep != 1:
            lines.append(f"    h{slot} = slot_times({bind(spec, 'slot')}, found, ref)")
            continue
        # slot_times written out for the common probe: the latest of its kinds' timestamps
        lines.append(f"    latest = {bind(-math.inf, 'never')}")
        for index in spec.kinds:
            lines += [f"    more = found[{index}]",
                      "    if more is not None and more[-1] > latest:",
                      "        latest = more[-1]"]
        lines.append(f"    h{slot} = [latest] if latest + {bind(spec.horizon, 'horizon')} >= ref"
                     " else None")
    lines.append("    tallies = {}")
    for rule in behaviour:
        rule_id = bind(rule.id, "rule")
        lines.append(f"    times = h{rule.slot}")
        lines.append("    if times:")
        if rule.decay != HALF_LIFE:
            lines.append(f"        tallies[{rule_id}] = tally({bind(rule, 'spec')}, times, ref)")
            continue
        body = ["matched = len(times)"]
        if rule.once:
            body.append("times = times[-1:]")
        points, rate = bind(rule.points, "points"), bind(rule.rate, "rate")
        body.append(f"total = {points} * len(times)")
        if not rule.window:
            body += ["weight = 0.0",
                     "for t in times:",
                     f"    weight += exp({rate} * (t - ref))",
                     f"decayed = {points} * weight",
                     f"tallies[{rule_id}] = new(RuleTally, "
                     "(matched, total, decayed, decayed, NONE))"]
        elif _whole_multiple(rule.window_cap, abs(rule.points)):
            # Whole points and a cap of k times them: every share window_shares gives is
            # the full points or 0.0 (its sums are exact), and the full points iff fewer
            # than k activities in the window earned theirs: iff the k-th latest earner is
            # at or before the cutoff. A share of 0.0 leaves `kept` as it was.
            k = _whole_multiple(rule.window_cap, abs(rule.points))
            never, window = bind(-math.inf, "never"), bind(rule.window, "window")
            if k == 1:  # the latest earner is the one to compare
                body += [f"last = {never}",
                         "weight = kept = 0.0",
                         "for t in times:",
                         f"    factor = exp({rate} * (t - ref))",
                         "    weight += factor",
                         f"    if last <= t - {window}:",
                         "        last = t",
                         f"        kept += {points} * factor"]  # -share is the points
            else:
                body += [f"earned = [{never}] * {k:d}",
                         "weight = kept = 0.0",
                         "for t in times:",
                         f"    factor = exp({rate} * (t - ref))",
                         "    weight += factor",
                         f"    if earned[-{k:d}] <= t - {window}:",
                         "        earned.append(t)",
                         f"        kept += {points} * factor"]
            body.append(f"tallies[{rule_id}] = new(RuleTally, "
                        f"(matched, total, {points} * weight, kept, NONE))")
        else:
            # window_shares and the decay in one pass: per accumulator, the same operations
            # in the same order as window_shares followed by the loop in tally
            size = bind(abs(rule.points), "size")
            signed = "share" if rule.points >= 0 else "-share"  # shares of negative points
            body += ["shares = []",
                     "head = 0",
                     "used = weight = kept = 0.0",
                     "for t in times:",
                     f"    cutoff = t - {bind(rule.window, 'window')}",
                     "    while times[head] <= cutoff:",
                     "        used -= shares[head]",
                     "        head += 1",
                     f"    share = {bind(rule.window_cap, 'cap')} - used",
                     f"    if share > {size}:",
                     f"        share = {size}",
                     "    elif share < 0.0:",
                     "        share = 0.0",
                     "    shares.append(share)",
                     "    used += share",
                     f"    factor = exp({rate} * (t - ref))",
                     "    weight += factor",
                     f"    kept += {signed} * factor",
                     f"tallies[{rule_id}] = new(RuleTally, "
                     f"(matched, total, {points} * weight, kept, NONE))"]
        lines += ["        " + line for line in body]
    lines.append("    return tallies, (")
    for probe in probes:
        lines.append(f"        tuple(h{probe.slot}[-{probe.keep:d}:]) if h{probe.slot} else NONE,")
    lines.append("    )")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<scoring aggregation>", "exec"), names)
    finish: Callable[[list[list[float] | None], float],
                     tuple[dict[str, RuleTally], tuple[tuple[float, ...], ...]]]
    finish = names["finish"]
    return finish


def _whole_multiple(cap: float, size: float) -> int:
    """k when `cap` is k times `size`, both whole numbers small enough that every sum of
    shares is exact (so each share is `size` or 0.0); else 0."""
    if 0.0 < size <= cap <= 2.0**40 and size.is_integer() and cap.is_integer() \
            and cap % size == 0.0:
        return int(cap // size)
    return 0


def _answers(tests: Sequence[Callable[[str | None], bool]]
             ) -> Callable[[str | None, dict[str | None, tuple[bool, ...]]], tuple[bool, ...]]:
    def answer(text: str | None, memo: dict[str | None, tuple[bool, ...]]) -> tuple[bool, ...]:
        answers = tuple([test(text) for test in tests])
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[text] = answers
        return answers

    return answer
