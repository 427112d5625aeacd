-- Scheduling state for adaptive polling, gap detection and permanent redirects.
ALTER TABLE feeds ADD COLUMN moved_to TEXT;            -- URL a 301/308 chain led to; fetched instead
ALTER TABLE feeds ADD COLUMN last_item_count INTEGER;  -- items in the last fetched document
ALTER TABLE feeds ADD COLUMN gaps INTEGER NOT NULL DEFAULT 0;  -- polls that suggested missed items
ALTER TABLE feeds ADD COLUMN interval_secs INTEGER;    -- interval chosen at the last poll
