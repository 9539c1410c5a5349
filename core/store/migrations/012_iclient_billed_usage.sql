-- An iClient may allow Gmail usage past Google's daily billing threshold (GMAIL_PROJECT_DAILY_UNITS):
-- off by default, so runs pause with daily_quota_reached at 100 % instead of incurring charges.
ALTER TABLE iclients ADD COLUMN allow_billed_usage boolean NOT NULL DEFAULT false;
