-- Budgets every process of one database shares (GCRA: the theoretical arrival time, ms).
CREATE TABLE rate_budgets (
    name TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
