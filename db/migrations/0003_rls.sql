-- Row-level security for Supabase on the first tables: enabled with no policy, so the public
-- `anon` and `authenticated` roles read and write nothing (roles and rights:
-- definitions/access.sql).

alter table drivers enable row level security;
alter table agents enable row level security;
alter table calllog enable row level security;
alter table call_events enable row level security;
alter table schema_migrations enable row level security;
