import Foundation
import Spool
import Yams

/// `credentials:` and the other places a secret is named (`routing_key_env`), and URLs, which
/// must not carry one either. Only sources are read here; values are read by
/// ``SpoolConfiguration/makeSinks(environment:readFile:)``.
extension ConfigurationReader {
    static let credentialKeys = ["basic", "bearer", "headers"]
    static let basicKeys = ["username", "password_env", "password_file"]
    static let bearerKeys = ["token_env", "token_file"]
    static let headerSecretKeys = ["env", "file"]

    func credentials(_ node: Node, at path: String) -> SpoolConfiguration.Credentials {
        var credentials = SpoolConfiguration.Credentials()
        // Text where one of these mappings belongs is most likely the secret itself
        // (`bearer: <token>`, a header line without its colon: found by fuzzing), so it is not shown.
        guard let keys = mapping(node, at: path, known: Self.credentialKeys, hidingText: true) else { return credentials }
        if let value = keys["basic"], let basic = mapping(value, at: "\(path).basic", known: Self.basicKeys, hidingText: true) {
            let username = basic["username"].flatMap { headerValue($0, at: "\(path).basic.username") }
            if basic["username"] == nil { fail("\(path).basic", value, "missing required key 'username'") }
            if username?.contains(":") == true {
                fail("\(path).basic.username", basic["username"], "a basic-authentication user name cannot contain ':'")
            }
            let password = secret(basic, name: "password", at: "\(path).basic", node: value, required: true)
            if let username, let password { credentials.basic = .init(username: username, password: password) }
        }
        if let value = keys["bearer"], let bearer = mapping(value, at: "\(path).bearer", known: Self.bearerKeys, hidingText: true) {
            credentials.bearer = secret(bearer, name: "token", at: "\(path).bearer", node: value, required: true)
        }
        if keys.has("basic") && keys.has("bearer") {
            fail(path, node, "basic and bearer both set the Authorization header; keep one")
        }
        if let value = keys["headers"], let headers = namedMapping(value, at: "\(path).headers", hidingText: true) {
            for (name, source) in headers {
                let headerPath = "\(path).headers.\(name)"
                guard Self.isHeaderName(name) else {
                    // Not repeated: `{X-Api-Key abc123}` makes the secret part of the name.
                    fail("\(path).headers", source, "a key that is not a valid HTTP header name (not shown here: it may be a secret)")
                    continue
                }
                if name.lowercased() == "authorization" && (keys.has("basic") || keys.has("bearer")) {
                    fail(headerPath, source, "Authorization is already set by \(keys.has("basic") ? "basic" : "bearer")")
                    continue
                }
                guard case .mapping = source else {
                    // Never describe the value: it is most likely the secret itself.
                    fail(headerPath, source, "a header value cannot be written in the file (its value is not shown here); "
                        + "put it in an environment variable or a file and write \(name): {env: VARIABLE} or \(name): {file: PATH}")
                    continue
                }
                guard let keys = mapping(source, at: headerPath, known: Self.headerSecretKeys, hidingText: true) else { continue }
                if let secret = secretSource(env: keys["env"], file: keys["file"], envKey: "env", fileKey: "file",
                                             at: headerPath, node: source, required: true) {
                    credentials.headers[name] = secret
                }
            }
        }
        return credentials
    }

    /// `<name>_env` or `<name>_file` of a mapping, exactly one of them.
    func secret(_ keys: OrderedPairs, name: String, at path: String, node: Node, required: Bool) -> SpoolConfiguration.Secret? {
        secretSource(env: keys["\(name)_env"], file: keys["\(name)_file"], envKey: "\(name)_env", fileKey: "\(name)_file",
                     at: path, node: node, required: required)
    }

    private func secretSource(env: Node?, file: Node?, envKey: String, fileKey: String, at path: String, node: Node,
                              required: Bool) -> SpoolConfiguration.Secret? {
        switch (env, file) {
        case (let env?, nil):
            guard let name = string(env, at: "\(path).\(envKey)") else { return nil }
            guard Self.isEnvironmentVariableName(name) else {
                // An invalid name may be a secret pasted in the wrong place: do not show it.
                fail("\(path).\(envKey)", env, "expected the name of an environment variable (letters, digits and '_', not starting with a digit); "
                    + "the value is not shown in case it is the secret itself")
                return nil
            }
            return .environment(name)
        case (nil, let file?):
            guard let filePath = string(file, at: "\(path).\(fileKey)") else { return nil }
            guard !filePath.utf8.contains(0) else {
                fail("\(path).\(fileKey)", file, "the path contains a NUL character")
                return nil
            }
            return .file(filePath)
        case (_?, _?):
            fail(path, file, "\(envKey) and \(fileKey) are both written; keep one")
            return nil
        case (nil, nil):
            // After an inline secret was refused here, "missing" would say the same thing twice.
            let refusedInline = issues.contains { $0.path.hasPrefix(path + ".") && $0.message.hasPrefix("a secret cannot") }
            if required && !refusedInline { fail(path, node, "missing \(envKey): VARIABLE or \(fileKey): PATH") }
            return nil
        }
    }

    /// An http(s) URL without credentials in it.
    func url(_ node: Node, at path: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        // Lower case, as every sink's own check (and Transport) expects: `HTTPS://` refused here,
        // on its own line, rather than later by the sink.
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
            fail(path, node, "expected an http:// or https:// URL (scheme in lower case)")
            return nil
        }
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            fail(path, node, "not a valid URL")
            return nil
        }
        if components.user != nil || components.password != nil {
            fail(path, node, "the URL has a user name or password in it (not shown here); "
                + "use credentials: {basic: {username: NAME, password_env: VARIABLE}} instead")
            return nil
        }
        if let item = components.queryItems?.first(where: { InlineSecret.names.contains($0.name.lowercased()) }) {
            fail(path, node, "the URL's query has a secret ('\(item.name)', value not shown); "
                + "send it as a header instead: credentials: {headers: {Header-Name: {env: VARIABLE}}}")
            return nil
        }
        return text
    }

    /// RFC 9110 token characters.
    static func isHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, at most 255 characters.
    static func isEnvironmentVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39), name.utf8.count <= 255 else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
        }
    }
}
