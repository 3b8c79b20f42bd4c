-- 004: a run records the process running it (pid, host) and a heartbeat, so that a run left
-- 'running' by a process that died is marked 'interrupted' on the next open. An export records
-- the root folder it was published under (out_dir is the immutable version folder inside it).
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host VARCHAR;
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE exports ADD COLUMN root_dir VARCHAR;
