;;; eglot_drive.el --- drives a real Emacs + eglot against codegen-lsp, as configured in the README.
;; Environment: CODEGEN_SERVER (JSON list: the command), CODEGEN_MODEL, CODEGEN_FILE, CODEGEN_RESULT.
(require 'eglot)
(require 'json)

(defun codegen-test-finish (result)
  (with-temp-file (getenv "CODEGEN_RESULT") (insert (json-encode result)))
  (kill-emacs 0))

;; The README's configuration, with the test's server command and model.
(add-to-list 'eglot-server-programs
             `((python-mode python-ts-mode)
               . (,@(append (json-read-from-string (getenv "CODEGEN_SERVER")) nil)
                  :initializationOptions (:model ,(getenv "CODEGEN_MODEL") :device "cpu" :maxNewTokens 8))))

(find-file (getenv "CODEGEN_FILE"))
(python-mode)
;; eglot-ensure waits for a command loop that batch mode does not have: connect the way it would.
(apply #'eglot (eglot--guess-contact))
(let ((deadline (+ (float-time) 90)) state)
  (while (and (< (float-time) deadline) (not (member state '("ready" "failed"))))
    (accept-process-output nil 0.2)
    (setq state (plist-get (jsonrpc-request (eglot-current-server) :codegen/stats nil) :state)))
  (goto-char (point-max))
  (insert "value = ")
  (let* ((line-before (buffer-substring (line-beginning-position) (point)))
         (capf (eglot-completion-at-point))
         (candidates (all-completions "" (nth 2 capf))))
    ;; What M-TAB does: with one candidate, completion-at-point inserts it.
    (completion-at-point)
    (codegen-test-finish
     `((state . ,state)
       (line_before . ,line-before)
       (candidates . ,(vconcat (mapcar #'substring-no-properties candidates)))
       (line_after . ,(buffer-substring-no-properties (line-beginning-position) (line-end-position)))))))
