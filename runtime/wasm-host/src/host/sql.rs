//! `sql.query` and `sql.execute` on the granted PostgreSQL database.
//!
//! One connection per instance, opened on first use with the granted DSN
//! (which the guest never sees) and kept across calls; a broken connection
//! is dropped and reopened on the next call. Statements are prepared, and
//! each parameter is converted to the type PostgreSQL inferred for it:
//!
//! | parameter type | accepts |
//! |---|---|
//! | `bool` | boolean |
//! | `int2`, `int4`, `int8`, `oid` | integer (range-checked) |
//! | `float4`, `float8` | double, integer |
//! | `text`, `varchar`, `bpchar`, `name`, unknown | text |
//! | `bytea` | bytes |
//! | `json`, `jsonb` | json (text), text |
//! | anything else | an error: cast in SQL, `$1::text::numeric` |
//!
//! Result columns convert the same way back (`oid` and the integers to
//! integer, `json`/`jsonb` to json, `bytea` to bytes); a column of another
//! type is an error asking to cast it to text in the query (`lsn::text`).
//! Connection failures are `unavailable`; SQL errors are `invalid-input`
//! with PostgreSQL's message, code and detail.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::bindings::transform::sluice::pipeline::{sql, types};
use crate::grants::Grant;

use super::HostState;

/// An open connection to the granted database.
pub(crate) struct Connection {
    client: Client,
}

fn error(kind: types::ErrorKind, message: String) -> types::Error {
    types::Error { kind, message }
}

/// PostgreSQL's message, with its SQLSTATE and detail when it sent them.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

impl HostState {
    /// The open connection, connecting first when there is none.
    async fn connection(&mut self, function: &str) -> Result<&Client, types::Error> {
        self.check(Grant::Sql, function)?;
        if self.sql.as_ref().is_some_and(|c| c.client.is_closed()) {
            tracing::info!(stage = %self.stage, "sql connection closed; reconnecting");
            self.sql = None;
        }
        if self.sql.is_none() {
            let dsn = self
                .grants
                .sql_dsn()
                .expect("checked above")
                .expose()
                .to_owned();
            let (client, connection) = tokio_postgres::connect(&dsn, NoTls).await.map_err(|e| {
                // The DSN holds credentials: never echo it.
                error(
                    types::ErrorKind::Unavailable,
                    format!(
                        "`{function}`: connecting to the granted database failed: {}",
                        describe(&e)
                    ),
                )
            })?;
            let stage = self.stage.clone();
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(%stage, "sql connection ended: {}", describe(&e));
                }
            });
            self.sql = Some(Connection { client });
        }
        Ok(&self.sql.as_ref().expect("connected above").client)
    }

    /// Prepares `statement` and converts `params` to its parameter types.
    async fn prepare(
        &mut self,
        function: &str,
        statement: &str,
        params: Vec<sql::Value>,
    ) -> Result<(Statement, Vec<Param>), types::Error> {
        let client = self.connection(function).await?;
        let prepared = client
            .prepare(statement)
            .await
            .map_err(|e| statement_error(function, &e))?;
        let types = prepared.params();
        if types.len() != params.len() {
            return Err(error(
                types::ErrorKind::InvalidInput,
                format!(
                    "`{function}`: the statement has {} parameter(s), the call passed {}",
                    types.len(),
                    params.len()
                ),
            ));
        }
        let params = params
            .into_iter()
            .zip(types)
            .enumerate()
            .map(|(index, (value, ty))| {
                Param::convert(value, ty).map_err(|reason| {
                    error(
                        types::ErrorKind::InvalidInput,
                        format!("`{function}`: parameter ${}: {reason}", index + 1),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((prepared, params))
    }
}

fn statement_error(function: &str, e: &tokio_postgres::Error) -> types::Error {
    let kind = if e.as_db_error().is_some() {
        types::ErrorKind::InvalidInput
    } else {
        types::ErrorKind::Unavailable
    };
    error(kind, format!("`{function}`: {}", describe(e)))
}

impl sql::Host for HostState {
    async fn query(
        &mut self,
        statement: String,
        params: Vec<sql::Value>,
    ) -> Result<sql::Rows, types::Error> {
        let (prepared, params) = self.prepare("sql.query", &statement, params).await?;
        let client = &self.sql.as_ref().expect("prepared on it").client;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        let rows = client
            .query(&prepared, &refs)
            .await
            .map_err(|e| statement_error("sql.query", &e))?;
        let columns: Vec<String> = prepared
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let rows = rows
            .iter()
            .map(convert_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sql::Rows { columns, rows })
    }

    async fn execute(
        &mut self,
        statement: String,
        params: Vec<sql::Value>,
    ) -> Result<u64, types::Error> {
        if params.is_empty() && statement.contains(';') {
            // Several statements (a migration, `BEGIN; ...; COMMIT`) run as
            // one simple-protocol batch; the count is of the last.
            let client = self.connection("sql.execute").await?;
            let results = client
                .simple_query(&statement)
                .await
                .map_err(|e| statement_error("sql.execute", &e))?;
            return Ok(results
                .iter()
                .rev()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                    _ => None,
                })
                .unwrap_or(0));
        }
        let (prepared, params) = self.prepare("sql.execute", &statement, params).await?;
        let client = &self.sql.as_ref().expect("prepared on it").client;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        client
            .execute(&prepared, &refs)
            .await
            .map_err(|e| statement_error("sql.execute", &e))
    }
}

/// A parameter converted to the Rust type its SQL type takes.
#[derive(Debug)]
enum Param {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Oid(u32),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Json(JsonText),
}

impl Param {
    fn convert(value: sql::Value, ty: &Type) -> Result<Param, String> {
        use sql::Value as V;
        let mismatch = |value: &V| {
            format!(
                "a {} value cannot be passed as {ty}; cast in SQL, e.g. `$n::text::{ty}`",
                kind_name(value)
            )
        };
        Ok(match (value, ty) {
            (V::Null, _) => Param::Null,
            (V::Boolean(b), &Type::BOOL) => Param::Bool(b),
            (V::Integer(i), &Type::INT2) => {
                Param::I16(i16::try_from(i).map_err(|_| format!("{i} does not fit int2"))?)
            }
            (V::Integer(i), &Type::INT4) => {
                Param::I32(i32::try_from(i).map_err(|_| format!("{i} does not fit int4"))?)
            }
            (V::Integer(i), &Type::INT8) => Param::I64(i),
            (V::Integer(i), &Type::OID) => {
                Param::Oid(u32::try_from(i).map_err(|_| format!("{i} is not an oid"))?)
            }
            (V::Integer(i), &Type::FLOAT8) => Param::F64(i as f64),
            (V::Integer(i), &Type::FLOAT4) => Param::F32(i as f32),
            (V::Double(d), &Type::FLOAT8) => Param::F64(d),
            (V::Double(d), &Type::FLOAT4) => Param::F32(d as f32),
            (
                V::Text(t),
                &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN,
            ) => Param::Text(t),
            (V::Text(t) | V::Json(t), &Type::JSON | &Type::JSONB) => Param::Json(JsonText(t)),
            (V::Bytes(b), &Type::BYTEA) => Param::Bytes(b),
            (value, _) => return Err(mismatch(&value)),
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Null => &None::<String>,
            Param::Bool(v) => v,
            Param::I16(v) => v,
            Param::I32(v) => v,
            Param::I64(v) => v,
            Param::Oid(v) => v,
            Param::F32(v) => v,
            Param::F64(v) => v,
            Param::Text(v) => v,
            Param::Bytes(v) => v,
            Param::Json(v) => v,
        }
    }
}

fn kind_name(value: &sql::Value) -> &'static str {
    match value {
        sql::Value::Null => "null",
        sql::Value::Boolean(_) => "boolean",
        sql::Value::Integer(_) => "integer",
        sql::Value::Double(_) => "double",
        sql::Value::Text(_) => "text",
        sql::Value::Bytes(_) => "bytes",
        sql::Value::Json(_) => "json",
    }
}

/// JSON text passed to a `json`/`jsonb` parameter as is.
#[derive(Debug)]
struct JsonText(String);

impl ToSql for JsonText {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // jsonb's binary format is a version byte, then the text.
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// JSON or JSONB read back as its text.
struct JsonColumn(String);

impl<'a> tokio_postgres::types::FromSql<'a> for JsonColumn {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = if *ty == Type::JSONB {
            raw.split_first().map(|(_, rest)| rest).unwrap_or_default()
        } else {
            raw
        };
        Ok(JsonColumn(String::from_utf8(text.to_vec())?))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

fn convert_row(row: &Row) -> Result<Vec<sql::Value>, types::Error> {
    (0..row.len())
        .map(|index| {
            let column = &row.columns()[index];
            let ty = column.type_();
            let failed = |e: tokio_postgres::Error| {
                error(types::ErrorKind::Internal, format!("`sql.query`: column `{}`: {}", column.name(), describe(&e)))
            };
            let value = match *ty {
                Type::BOOL => row.try_get::<_, Option<bool>>(index).map_err(failed)?.map(sql::Value::Boolean),
                Type::INT2 => row.try_get::<_, Option<i16>>(index).map_err(failed)?.map(|v| sql::Value::Integer(v.into())),
                Type::INT4 => row.try_get::<_, Option<i32>>(index).map_err(failed)?.map(|v| sql::Value::Integer(v.into())),
                Type::INT8 => row.try_get::<_, Option<i64>>(index).map_err(failed)?.map(sql::Value::Integer),
                Type::OID => row.try_get::<_, Option<u32>>(index).map_err(failed)?.map(|v| sql::Value::Integer(v.into())),
                Type::FLOAT4 => row.try_get::<_, Option<f32>>(index).map_err(failed)?.map(|v| sql::Value::Double(v.into())),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(index).map_err(failed)?.map(sql::Value::Double),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    row.try_get::<_, Option<String>>(index).map_err(failed)?.map(sql::Value::Text)
                }
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index).map_err(failed)?.map(sql::Value::Bytes),
                Type::JSON | Type::JSONB => row.try_get::<_, Option<JsonColumn>>(index).map_err(failed)?.map(|j| sql::Value::Json(j.0)),
                _ => {
                    return Err(error(
                        types::ErrorKind::InvalidInput,
                        format!(
                            "`sql.query`: column `{name}` has type {ty}, which the host does not convert: \
                             cast it in the query, e.g. `{name}::text`",
                            name = column.name()
                        ),
                    ))
                }
            };
            Ok(value.unwrap_or(sql::Value::Null))
        })
        .collect()
}
