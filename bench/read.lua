-- wrk: GET the URL it is given; the summary line as create.lua.
done = dofile(os.getenv("BENCH_DIR") .. "/summary.lua")
