ALTER TABLE services DROP COLUMN IF EXISTS breach_user_ids;
