"""Run in the folder holding bench.log and dwarf.txt (run-dwarf.sh). Backend CPU per row by what the server was doing, per write path and the ceiling, from DWARF call stacks split at
the bench's log lines (leaf to root, the first frame named below decides)."""
import collections, re
HZ, ROWS = 199, 500_000
log = [l.split(' ', 1) for l in open('bench.log') if '==> (10)' in l]
windows, start = [], None
for t, text in log:
    t = float(t)
    if re.search(r'the ceiling, then (\S+)', text): start, kind = t, 'ceiling'
    elif m := re.search(r'now (\S+)', text): start, kind = t, m.group(1)
    elif 'stored in' in text and start is not None: windows.append((start, t, kind)); start = None
runs = collections.Counter(k for *_, k in windows)
def window_of(t):
    for s, e, k in windows:
        if s <= t < e: return k
WHAT = [
    (('jsonb_in', 'jsonb_recv'), 'items parsed into jsonb'),
    (('array_recv', 'array_unnest', 'ExecMakeFunctionResultSet'), 'arrays received and unnested'),
    (('numeric_in', 'numeric_recv', 'timestamptz_recv', 'uuid_recv', 'int4recv', 'int8recv', 'textrecv', 'uuid_in', 'timestamptz_in', 'int4in', 'int8in', 'textin', 'varcharrecv', 'enum_in', 'enum_recv'), "the other columns' values read"),
    (('CopyReadBinaryAttribute', 'NextCopyFrom'), 'rows read from COPY'),
    (('_bt_check_unique', 'ExecCheckIndexConstraints', 'check_exclusion_or_unique_constraint', 'btinsert', '_bt_doinsert', 'index_insert', 'ExecInsertIndexTuples'), "index insert and the primary key's conflict check"),
    (('XLogInsert', 'XLogInsertRecord', 'heap_insert', 'heap_multi_insert', 'table_tuple_insert', 'heapam_tuple_insert', 'SeqNext', 'heap_getnextslot', 'heapgettup_pagemode'), "heap insert, WAL records, the staging table's scan"),
    (('CommitTransaction', 'RecordTransactionCommit', 'XLogFlush', 'CommitTransactionCommand'), 'commit'),
    (('exec_parse_message', 'exec_bind_message', 'pg_plan_queries', 'pg_analyze_and_rewrite_fixedparams', 'pg_parse_query', 'PortalStart', 'ExecutorStart', 'standard_ExecutorStart', 'ExecInitNode', 'PortalDrop', 'ExecutorEnd', 'standard_ExecutorEnd', 'exec_simple_query', 'ExecTruncate', 'ExecuteTruncate'), 'statement parse, plan, start and end; truncate'),
]
def what(frames):
    for f in frames:
        for names, label in WHAT:
            if f in names: return label
    return 'other (executor, expressions, memory, unnamed)'
by = collections.defaultdict(collections.Counter)
frames, t = [], None
def flush():
    if t is not None and (k := window_of(t)): by[k][what(frames)] += 1
for line in open('dwarf.txt'):
    if m := re.match(r'^(\d+\.\d+):', line):
        flush(); t, frames = float(m.group(1)), []
    elif line.strip():
        parts = line.split()
        if len(parts) >= 2: frames.append(parts[1])
flush()
us = lambda n, k: n / HZ * 1e6 / (ROWS * runs[k])
kinds = ['ceiling', 'unnest', 'copy', 'unnest_5_per_commit']
print('| the backend doing | ' + ' | '.join(kinds) + ' | unnest − ceiling |')
print('|---|' + '---|' * (len(kinds) + 1))
labels = sorted(set().union(*[by[k] for k in kinds]), key=lambda l: -us(by['unnest'][l], 'unnest'))
for l in labels:
    v = [us(by[k][l], k) for k in kinds]
    print(f'| {l} | ' + ' | '.join(f'{x:.2f}' for x in v) + f' | {v[1]-v[0]:+.2f} |')
tot = [us(sum(by[k].values()), k) for k in kinds]
print('| all | ' + ' | '.join(f'{x:.2f}' for x in tot) + f' | {tot[1]-tot[0]:+.2f} |')
print(f'windows {dict(runs)}, {HZ} Hz, {ROWS} rows a run; samples per kind ' + ', '.join(f'{k} {sum(by[k].values())}' for k in kinds))
