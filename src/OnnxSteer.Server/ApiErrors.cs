namespace OnnxSteer.Server;

/// <summary>The refusals that are not about a request's fields: busy, stopping, timed out, wrong method, too large.</summary>
internal static class ApiErrors
{
    /// <summary>Seconds a refused client is told to wait.</summary>
    public const int RetryAfterSeconds = 1;

    public static ApiError Busy(int status, string message, string code) =>
        new(status, message, code: code, type: status == 429 ? "rate_limit_error" : "server_error") { RetryAfterSeconds = RetryAfterSeconds };

    public static ApiError Stopping() =>
        new(503, "the server is stopping", code: "server_stopping", type: "server_error") { RetryAfterSeconds = RetryAfterSeconds };

    /// <summary>A generation cut before its end: the server stopping, or the request's deadline.</summary>
    public static ApiError Cut(bool stopping, int tokens, TimeSpan deadline) => stopping
        ? new(503, $"the server is stopping; the request was cut after {tokens} generated tokens", code: "server_stopping", type: "server_error") { RetryAfterSeconds = RetryAfterSeconds }
        : new(503, $"the request ran past its deadline of {deadline.TotalSeconds:0.#} s and was cut after {tokens} generated tokens", code: "deadline_exceeded", type: "server_error");

    public static ApiError MethodNotAllowed(string method, string path, IEnumerable<string> allowed)
    {
        var allow = string.Join(", ", allowed);
        return new(405, $"{method} is not allowed on {path} (allowed: {allow})", code: "method_not_allowed") { Headers = new Dictionary<string, string> { ["Allow"] = allow } };
    }

    public static ApiError TooLarge(long limit) =>
        new(413, $"the body exceeds {limit} bytes, the most this server takes", code: "body_too_large") { CloseConnection = true };

    public static ApiError BodyTimeout(TimeSpan timeout) =>
        new(408, $"the body did not arrive within {timeout.TotalSeconds:0.#} s", code: "request_timeout") { CloseConnection = true };

    public static ApiError Unauthorized() =>
        new(401, "missing or incorrect API key (Authorization: Bearer KEY)", code: "invalid_api_key")
        {
            Headers = new Dictionary<string, string> { ["WWW-Authenticate"] = "Bearer" },
        };
}
