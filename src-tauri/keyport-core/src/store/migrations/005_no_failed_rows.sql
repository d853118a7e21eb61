-- A first sign-in that failed or was cancelled no longer leaves a row
-- behind (it never had an account): the ones earlier versions kept go.
DELETE FROM connections WHERE status = 'failed' AND subject IS NULL;
