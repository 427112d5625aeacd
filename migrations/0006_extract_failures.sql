-- Article pages whose extraction looked failed (too short, mostly links, the same text as
-- another page of the host): the feed's own text was matched instead. Shown in `status`.
ALTER TABLE feeds ADD COLUMN extract_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN last_extract_error TEXT;
