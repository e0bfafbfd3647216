/*
 * privileges.c -- who may use a model: seqmodel.grant_use and revoke_use.
 *
 * The rules live in the catalog (sql/seqmodel--0.4.0--0.5.0.sql): every
 * model row has an owner, seqmodel.model_grant lists who else may use it,
 * and row-level security on the catalog tables lets a role see, and so run,
 * only the models it may use, and write only those whose owner's privileges
 * it has.  Every function reads and writes the catalog through SPI as the
 * calling role, so the policies apply to it exactly as to a direct query.
 * The glue adds messages that name the model and its owner (catalog.c:
 * sm_catalog_require_owner, sm_catalog_unknown_model), and these two
 * functions, which keep the grant table's grantor equal to the owner.
 */
#include "sm_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

/* a grantee argument: a role name as it is spelled, or public (any case) for PUBLIC (InvalidOid) */
static Oid
grantee_arg(const char *grantee)
{
	Oid			role;

	if (pg_strcasecmp(grantee, "public") == 0)
		return InvalidOid;
	role = get_role_oid(grantee, true);
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", grantee),
				 errhint("Name a role exactly as it is spelled, or public for every role.")));
	return role;
}

/* run the grant table's statement for (model, grantee [, grantor]); rows it changed */
static uint64
grant_exec(SPIPlanPtr *slot, const char *query, int nargs, const char *model,
		   Oid grantee, Oid grantor, int expect)
{
	Oid			types[3] = {TEXTOID, REGROLEOID, REGROLEOID};
	Datum		values[3];
	int			rc;
	uint64		n;

	values[0] = CStringGetTextDatum(model);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = ObjectIdGetDatum(grantor);
	SPI_connect();
	sm_catalog_plan(slot, query, nargs, types);
	rc = SPI_execute_plan(*slot, values, NULL, false, 0);
	if (rc != expect)
		elog(ERROR, "query \"%s\" failed: %s", query, SPI_result_code_string(rc));
	n = SPI_processed;
	SPI_finish();
	return n;
}

PG_FUNCTION_INFO_V1(sm_grant_use);
/* seqmodel.grant_use(model, grantee): true if the grant is new */
Datum
sm_grant_use(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *grantee = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			owner = sm_catalog_require_owner(model, "grant or revoke its use");
	Oid			role = grantee_arg(grantee);

	PG_RETURN_BOOL(grant_exec(&plan,
							  "INSERT INTO seqmodel.model_grant (model, grantee, grantor) VALUES ($1, $2, $3)"
							  " ON CONFLICT (model, grantee) DO NOTHING",
							  3, model, role, owner, SPI_OK_INSERT) > 0);
}

PG_FUNCTION_INFO_V1(sm_revoke_use);
/* seqmodel.revoke_use(model, grantee): true if there was such a grant */
Datum
sm_revoke_use(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *grantee = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			role;

	sm_catalog_require_owner(model, "grant or revoke its use");
	role = grantee_arg(grantee);
	PG_RETURN_BOOL(grant_exec(&plan,
							  "DELETE FROM seqmodel.model_grant"
							  " WHERE model OPERATOR(pg_catalog.=) $1"
							  " AND grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid",
							  2, model, role, InvalidOid, SPI_OK_DELETE) > 0);
}
