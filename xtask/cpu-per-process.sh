#!/bin/bash
# Usage: xtask/cpu-per-process.sh CMD...
# Prints the wall time, how busy the machine was, and the CPU seconds each group of
# processes (postgres, herald, rabbitmq, nats, others) used while CMD ran, from /proc,
# sampled every 0.25 s so that processes that exit before the end still count.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sample() { for p in /proc/[0-9]*; do read -r line < $p/stat 2>/dev/null || continue; echo "$line"; done | awk '{c=$2; gsub(/[()]/,"",c); print $1, c, $14+$15}'; }
sample > "$dir/first"
( while true; do sample; echo "--"; sleep 0.25; done ) > "$dir/samples" &
sp=$!
read -r _ u n s i w q sq _ < /proc/stat; b0=$((u+n+s+q+sq)); t0=$((u+n+s+i+w+q+sq))
start=$(date +%s.%N)
"$@"
end=$(date +%s.%N)
read -r _ u n s i w q sq _ < /proc/stat; b1=$((u+n+s+q+sq)); t1=$((u+n+s+i+w+q+sq))
kill $sp
hz=$(getconf CLK_TCK)
echo "wall $(echo "$end - $start" | bc) machine_busy $(echo "scale=2; 100*($b1-$b0)/($t1-$t0)" | bc)%"
awk -v hz=$hz 'FNR==NR{first[$1]=$3; next} $1!="--"{if($3>last[$1])last[$1]=$3; name[$1]=$2} END{for(p in last){d=last[p]-(p in first?first[p]:0); n=name[p]; if(n~/^postgres/)n="postgres"; else if(n~/beam|erl|epmd|inet_gethost|rabbit|^1_scheduler|dirty/)n="rabbitmq"; else if(n~/nats/)n="nats"; else if(n~/herald|tokio/)n="herald"; else n="other:" n; g[n]+=d} for(k in g) if(g[k]>0) printf "%-20s cpu_s %.2f\n", k, g[k]/hz}' "$dir/first" "$dir/samples" | sort -k3 -nr | head -12
