#!/usr/bin/env python3
"""Chooses the inputs of a fuzz corpus that fit a size budget (scripts/fuzz.sh --merge).

libFuzzer's -merge=1 keeps every input that adds a feature, however large: the
grown report corpus minimizes to ~2,600 captures (~50 MB), too much to keep in
the repository. This reads the merge's control file (-merge_control_file: for
each input its size, its features "FT" and its covered edges "COV") and keeps:

  1. every input of the committed corpus (the seeds of every record kind: the
     first corpus given to the merge), whatever the budget;
  2. then, greedily, the input that adds the most not yet covered edges per
     byte, until every edge any input covers is covered or the budget is spent;
  3. then, with what budget is left, the input adding the most new features
     per byte.

Prints the chosen file names, one per line, and a summary on stderr.

  fuzz_corpus_budget.py CONTROL_FILE BUDGET_BYTES COMMITTED_DIR
"""
import heapq
import os
import sys


def parse(control):
    with open(control) as f:
        lines = f.read().split("\n")
    n = int(lines[0])
    names = lines[2:2 + n]
    size, ft, cov = {}, {}, {}
    for line in lines[2 + n:]:
        parts = line.split()
        if len(parts) < 2:
            continue
        i = int(parts[1])
        if parts[0] == "STARTED":
            size[i] = int(parts[2]) if len(parts) > 2 else os.path.getsize(names[i])
        elif parts[0] == "FT":
            ft[i] = set(map(int, parts[2:]))
        elif parts[0] == "COV":
            cov[i] = set(map(int, parts[2:]))
    # An input without FT crashed or timed out while merging: never chosen.
    done = [i for i in range(n) if i in ft]
    return names, size, ft, cov, done


def greedy(candidates, gain_of, size, budget, spent, chosen):
    """Lazy greedy: the best gain per byte first, gains re-computed on pop."""
    heap = [(-len(gain_of(i)) / max(size[i], 1), i) for i in candidates]
    heapq.heapify(heap)
    while heap:
        neg, i = heapq.heappop(heap)
        gain = gain_of(i)
        if not gain:
            continue
        ratio = -len(gain) / max(size[i], 1)
        if heap and ratio > heap[0][0]:  # stale: push back with its current gain
            heapq.heappush(heap, (ratio, i))
            continue
        if spent + size[i] > budget:
            continue
        chosen.append(i)
        spent += size[i]
        yield i
    return


def main():
    control, budget, committed = sys.argv[1], int(sys.argv[2]), os.path.realpath(sys.argv[3])
    names, size, ft, cov, done = parse(control)
    keep = [i for i in done if os.path.realpath(names[i]).startswith(committed + os.sep)]
    chosen = list(keep)
    spent = sum(size[i] for i in keep)
    have_cov = set().union(*(cov.get(i, set()) for i in keep)) if keep else set()
    have_ft = set().union(*(ft[i] for i in keep)) if keep else set()
    all_cov = set().union(*(cov.get(i, set()) for i in done)) if done else set()
    all_ft = set().union(*(ft[i] for i in done)) if done else set()
    rest = [i for i in done if i not in set(keep)]

    def new_cov(i):
        return cov.get(i, set()) - have_cov

    for i in greedy(rest, new_cov, size, budget, spent, chosen):
        spent += size[i]
        have_cov |= cov.get(i, set())
        have_ft |= ft[i]
    taken = set(chosen)

    def new_ft(i):
        return ft[i] - have_ft

    for i in greedy([i for i in rest if i not in taken], new_ft, size, budget, spent, chosen):
        spent += size[i]
        have_ft |= ft[i]
        have_cov |= cov.get(i, set())
    for i in chosen:
        print(names[i])
    print(f"fuzz_corpus_budget: {len(chosen)} of {len(done)} inputs ({len(keep)} committed), {spent} bytes "
          f"(budget {budget}); edges {len(have_cov)} of {len(all_cov)}, features {len(have_ft)} of {len(all_ft)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
