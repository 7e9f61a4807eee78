# Reads strace -f output (execve/open/openat/openat2, successful calls only) and prints each
# absolute path once, as "exec PATH" or "open PATH". ci/test.sh pipes its trace through this
# so the trace file stays small; ci/deps-check.py reads the result.
{
    if (match($0, /(execve|execveat|open|openat|openat2)\([^"]*"[^"]*"/) == 0) next
    call = substr($0, RSTART, RLENGTH)
    kind = (call ~ /^execve/) ? "exec" : "open"
    sub(/^[^"]*"/, "", call)
    sub(/"$/, "", call)
    if (substr(call, 1, 1) != "/") next
    key = kind " " call
    if (!(key in seen)) { seen[key] = 1; print key; fflush() }
}
