"""The names of a distributor's rules, defined once: the database, the API, the admin and the pure split
functions (``distributions.engine.splits``) all use these strings. Pure: no Django."""

# How the pool of a period is found.
POOL_FIXED = "fixed"
POOL_REVENUE_SHARE = "revenueShare"

# How the pool is split.
PERFORMANCE_SHARED_POOL = "performanceSharedPool"
SHARED_ENGAGEMENT_POOL = "sharedEngagementPool"
TOP_SCORE_WINS = "topScoreWins"
TOP_N = "topN"
RESOLVERS = (PERFORMANCE_SHARED_POOL, SHARED_ENGAGEMENT_POOL, TOP_SCORE_WINS, TOP_N)

# Who wins a tie (topScoreWins, topN).
TIE_SPLIT = "split"
TIE_EARLIEST = "earliest"
TIE_POLICIES = (TIE_SPLIT, TIE_EARLIEST)
